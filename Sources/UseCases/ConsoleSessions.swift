import Audit
import Crypto
import Foundation
import ReferralModel
import Settings
import Storage

/// One signed-in person at the console: who they are (the digest of the key they signed in with,
/// so a revoked or expired key ends the session at once), the CSRF token every form carries, and
/// the sentence their next page shows.
public struct ConsoleSession: Sendable, Equatable {
    /// The session cookie's value. Only this gateway's memory holds it; the store keeps its digest.
    public var id: String
    public var keyDigest: [UInt8]
    public var csrfToken: String
    public var signedInAt: Date
    /// A sentence for this page: what the person's last action did.
    public var notice: String?
    /// Who signed in through the identity provider; nil for a key (then `keyDigest` says who).
    public var person: StaffSignIn.Person? = nil
}

/// Console sessions, kept in the store: every gateway on a shared database knows every session, so
/// a load balancer needs no sticky sessions, and a restart signs no one out. A session ends after
/// `idleTimeout` without a request, `lifetime` after sign-in, on sign-out, or when its key stops
/// working (the console checks the live keys on every request).
public final class ConsoleSessions: Sendable {
    public static let cookieName = "switchboard_session"
    /// Holds a sign-in form's CSRF token before there is a session.
    public static let signInCookieName = "switchboard_sign_in"
    /// How stale a session's last sight may be before a request records it again: a person's every
    /// page need not write.
    static let touchInterval: TimeInterval = 60

    public let idleTimeout: TimeInterval
    public let lifetime: TimeInterval
    let store: any SessionStore & AuditLog
    let clock: any WallClock

    public init(store: any SessionStore & AuditLog, clock: any WallClock, idleTimeout: TimeInterval = 30 * 60, lifetime: TimeInterval = 8 * 60 * 60) {
        self.store = store
        self.clock = clock
        self.idleTimeout = idleTimeout
        self.lifetime = lifetime
    }

    /// A new session for `holder`, who signed in with the key whose digest is `keyDigest` (or with
    /// their password, as that key); ended sessions are forgotten. Who signed in, and when, is part
    /// of the record; the session itself is not.
    public func begin(keyDigest: [UInt8], holder: KeyHolder, withPassword: Bool) async throws -> ConsoleSession {
        let now = clock.now()
        try await store.appendAudit([
            AuditNarrative.consoleSignedIn(at: now, actor: holder.owner ?? holder.id, id: holder.id, withPassword: withPassword)
        ])
        let session = ConsoleSession(id: Self.randomToken(), keyDigest: keyDigest, csrfToken: Self.randomToken(), signedInAt: now)
        try await store.beginSession(
            StoredSession(digest: Self.digest(session.id), keyDigest: keyDigest, csrfToken: session.csrfToken, signedInAt: now, lastSeen: now),
            forgettingIdleBefore: now.addingTimeInterval(-idleTimeout), signedInBefore: now.addingTimeInterval(-lifetime))
        return session
    }

    /// A new session for someone the identity provider vouched for (no key): who they are is kept
    /// with it; the sign-in is audited with the provider's issuer.
    public func begin(person: StaffSignIn.Person, issuer: String) async throws -> ConsoleSession {
        let now = clock.now()
        try await store.appendAudit([
            AuditNarrative.consoleSignedIn(at: now, actor: person.name, person: person.id, role: person.role.rawValue, issuer: issuer)
        ])
        var session = ConsoleSession(id: Self.randomToken(), keyDigest: [], csrfToken: Self.randomToken(), signedInAt: now)
        session.person = person
        let identity = String(decoding: try JSONEncoder().encode(person), as: UTF8.self)
        try await store.beginSession(
            StoredSession(
                digest: Self.digest(session.id), keyDigest: [], csrfToken: session.csrfToken, signedInAt: now, lastSeen: now, identity: identity),
            forgettingIdleBefore: now.addingTimeInterval(-idleTimeout), signedInBefore: now.addingTimeInterval(-lifetime))
        return session
    }

    /// The live session a cookie names, its idle time restarted; nil when there is none or it ended.
    public func resume(_ id: String) async throws -> ConsoleSession? {
        guard !id.isEmpty, id.utf8.count <= 128 else { return nil }
        let now = clock.now()
        guard
            let stored = try await store.resumeSession(
                digest: Self.digest(id), now: now, touchBefore: now.addingTimeInterval(-Self.touchInterval),
                idleBefore: now.addingTimeInterval(-idleTimeout), signedInBefore: now.addingTimeInterval(-lifetime))
        else { return nil }
        var session = ConsoleSession(
            id: id, keyDigest: stored.keyDigest, csrfToken: stored.csrfToken, signedInAt: stored.signedInAt, notice: stored.notice)
        session.person = stored.identity.flatMap { try? JSONDecoder().decode(StaffSignIn.Person.self, from: Data($0.utf8)) }
        return session
    }

    /// Keeps `text` to show on the session's next page.
    public func tell(_ id: String, _ text: String) async throws {
        try await store.setSessionNotice(digest: Self.digest(id), notice: text)
    }

    /// The sentence kept for `session`'s next page, once: it is cleared as it is taken.
    public func takeNotice(_ session: ConsoleSession) async throws -> String? {
        guard let notice = session.notice else { return nil }
        try await store.setSessionNotice(digest: Self.digest(session.id), notice: nil)
        return notice
    }

    public func end(_ id: String) async throws {
        try await store.endSession(digest: Self.digest(id))
    }

    /// The SHA-256 digest of a session id, in hex: what the store keeps.
    static func digest(_ id: String) -> String {
        Hex.encode(Array(SHA256.hash(data: Data(id.utf8))))
    }

    /// 32 random bytes, base64url: a session id or a CSRF token.
    public static func randomToken() -> String {
        StaffSignIn.base64URL(SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) })
    }

    /// Compares two tokens in time that does not depend on where they differ.
    public static func same(_ a: String, _ b: String) -> Bool {
        let left = Array(a.utf8)
        let right = Array(b.utf8)
        guard left.count == right.count else { return false }
        var difference: UInt8 = 0
        for index in left.indices { difference |= left[index] ^ right[index] }
        return difference == 0
    }
}
