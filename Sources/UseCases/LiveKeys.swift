import Foundation
import ReferralModel
import Settings
import Storage
import Synchronization

/// Who presented a key: what a request's authority comes from.
public struct KeyHolder: Sendable, Equatable {
    public var id: String
    /// The person or system that holds it; nil for a configured key written without one.
    public var owner: String?
    public var role: Role
    public var organisations: Set<String>?
    public var agency: String?
    /// The Standard Webhooks secret the key's requests must be signed with, when it has one.
    public var signatureSecret: String? = nil
}

/// One key as an administrator sees it in a list: never the key or its digest.
public struct KeyListing: Codable, Sendable, Equatable {
    public var id: String
    public var owner: String?
    public var role: String
    public var organisations: [String]?
    public var agency: String?
    /// `configuration` (written in switchboard.yaml: change it there and send SIGHUP) or `managed`.
    public var source: String
    public var state: String
    public var createdAt: String?
    public var createdBy: String?
    public var expiresAt: String?
    public var revokedAt: String?
    public var revokedBy: String?
    /// After a rotation, until when the old secret is still accepted.
    public var previousSecretUntil: String?
}

/// The keys every request is checked against: those written in switchboard.yaml (replaced on
/// SIGHUP) and those made through the API (replaced whenever one changes, and read again from the
/// store every few seconds so every gateway on one store agrees). Looked up by the SHA-256 digest
/// of the presented key, so neither a comparison's timing nor anything stored reveals a key.
public final class LiveKeys: Sendable {
    private struct Entry {
        var holder: KeyHolder
        var validUntil: Date?
    }

    private struct State {
        var configured: [APIKey] = []
        var managed: [ManagedKey] = []
        var byDigest: [[UInt8]: Entry] = [:]
    }

    private let state = Mutex(State())

    public init(configured: [APIKey]) {
        replaceConfigured(configured)
    }

    /// The holder of the key with this digest, if it is live at `now`.
    public func holder(digest: [UInt8], now: Date) -> KeyHolder? {
        state.withLock { state in
            guard let entry = state.byDigest[digest] else { return nil }
            if let until = entry.validUntil, until <= now { return nil }
            return entry.holder
        }
    }

    /// The current digest of the live key with this id (configured or managed, not revoked, not
    /// expired at `now`): what a person signing in by password is signed in as.
    public func liveDigest(id: String, now: Date) -> [UInt8]? {
        state.withLock { state in
            let digest =
                state.configured.first { $0.id == id }?.digest ?? state.managed.first { $0.id == id && $0.revokedAt == nil }?.digest
            guard let digest, let entry = state.byDigest[digest], entry.holder.id == id else { return nil }
            if let until = entry.validUntil, until <= now { return nil }
            return digest
        }
    }

    public var configured: [APIKey] { state.withLock { $0.configured } }
    public var managed: [ManagedKey] { state.withLock { $0.managed } }

    public func replaceConfigured(_ keys: [APIKey]) {
        state.withLock { state in
            state.configured = keys
            Self.index(&state)
        }
    }

    public func replaceManaged(_ keys: [ManagedKey]) {
        state.withLock { state in
            state.managed = keys
            Self.index(&state)
        }
    }

    /// Configured keys win over managed ones with the same digest (which a random key never has).
    private static func index(_ state: inout State) {
        var byDigest: [[UInt8]: Entry] = [:]
        for key in state.managed where key.revokedAt == nil {
            guard let role = Role(rawValue: key.role) else { continue }
            let holder = KeyHolder(id: key.id, owner: key.owner, role: role, organisations: key.organisations.map(Set.init), agency: key.agency)
            byDigest[key.digest] = Entry(holder: holder, validUntil: key.expiresAt)
            if let previous = key.previousDigest, let until = key.previousExpiresAt {
                byDigest[previous] = Entry(holder: holder, validUntil: min(until, key.expiresAt ?? until))
            }
        }
        for key in state.configured {
            let holder = KeyHolder(
                id: key.id, owner: key.owner, role: key.role, organisations: key.organisations, agency: key.agency,
                signatureSecret: key.signature?.secret)
            byDigest[key.digest] = Entry(holder: holder, validUntil: key.expiresAt)
        }
        state.byDigest = byDigest
    }

    /// Every key, configured first, as an administrator sees them.
    public func listing(now: Date) -> [KeyListing] {
        state.withLock { state in
            state.configured.map { key in
                KeyListing(
                    id: key.id, owner: key.owner, role: key.role.rawValue, organisations: key.organisations.map { $0.sorted() },
                    agency: key.agency, source: "configuration", state: key.expiresAt.map { $0 <= now } == true ? "expired" : "live",
                    expiresAt: key.expiresAt.map(Timestamp.string))
            }
                + state.managed.map { key in
                    let state =
                        key.revokedAt != nil ? "revoked" : key.expiresAt.map { $0 <= now } == true ? "expired" : "live"
                    return KeyListing(
                        id: key.id, owner: key.owner, role: key.role, organisations: key.organisations, agency: key.agency, source: "managed",
                        state: state, createdAt: Timestamp.string(key.createdAt), createdBy: key.createdBy,
                        expiresAt: key.expiresAt.map(Timestamp.string), revokedAt: key.revokedAt.map(Timestamp.string),
                        revokedBy: key.revokedBy,
                        previousSecretUntil: key.previousExpiresAt.flatMap { $0 > now ? Timestamp.string($0) : nil })
                }
        }
    }
}
