import Foundation

/// A console session as a store keeps it. The cookie's value is never stored: only its SHA-256
/// digest, so whoever reads the database cannot take over a session. Nor is the key the person
/// signed in with: only its digest, checked against the live keys on every request.
public struct StoredSession: Sendable, Equatable {
    /// The SHA-256 digest of the session cookie's value, in hex.
    public var digest: String
    /// The SHA-256 digest of the key the person signed in with.
    public var keyDigest: [UInt8]
    /// The token every console form carries.
    public var csrfToken: String
    public var signedInAt: Date
    public var lastSeen: Date
    /// A sentence for the person's next page: what their last action did.
    public var notice: String?

    /// Who signed in through the identity provider (staff sign-in, no key): as JSON; nil for a key.
    public var identity: String?

    public init(
        digest: String, keyDigest: [UInt8], csrfToken: String, signedInAt: Date, lastSeen: Date, notice: String? = nil, identity: String? = nil
    ) {
        self.identity = identity
        self.digest = digest
        self.keyDigest = keyDigest
        self.csrfToken = csrfToken
        self.signedInAt = signedInAt
        self.lastSeen = lastSeen
        self.notice = notice
    }
}

/// Console sessions kept in the store, so every gateway on a shared database knows every session
/// (no sticky sessions) and a restart signs no one out.
public protocol SessionStore: Sendable {
    /// Keeps a new session, and forgets every session that was idle since `idleBefore` or signed in
    /// before `signedInBefore`: they have ended.
    func beginSession(_ session: StoredSession, forgettingIdleBefore idleBefore: Date, signedInBefore: Date) async throws
    /// The session with this digest when it was seen since `idleBefore` and signed in since
    /// `signedInBefore`; its last sight is moved to `now` when it is older than `touchBefore` (so a
    /// busy person's pages do not each write). One that has ended is forgotten, and nil returned.
    func resumeSession(digest: String, now: Date, touchBefore: Date, idleBefore: Date, signedInBefore: Date) async throws -> StoredSession?
    /// Keeps `notice` for the session's next page (nil clears it); nothing when there is no such session.
    func setSessionNotice(digest: String, notice: String?) async throws
    /// Forgets a session: the person signed out, or their key stopped working.
    func endSession(digest: String) async throws
}
