import Audit
import Foundation

/// An API key made through the admin API or `switchboard keys create`, rather than written in
/// switchboard.yaml. The key itself is never stored: only its SHA-256 digest.
public struct ManagedKey: Sendable, Equatable {
    public var id: String
    /// Who holds it: a person (for keys people use) or a system (for keys systems use). The audit
    /// trail names the owner for what is done with the key.
    public var owner: String
    public var role: String
    public var digest: [UInt8]
    public var organisations: [String]?
    public var agency: String?
    public var createdAt: Date
    public var createdBy: String
    public var expiresAt: Date?
    public var revokedAt: Date?
    public var revokedBy: String?
    /// After a rotation: the replaced key's digest, still accepted until `previousExpiresAt`.
    public var previousDigest: [UInt8]?
    public var previousExpiresAt: Date?

    public init(
        id: String, owner: String, role: String, digest: [UInt8], organisations: [String]? = nil, agency: String? = nil, createdAt: Date,
        createdBy: String, expiresAt: Date? = nil
    ) {
        self.id = id
        self.owner = owner
        self.role = role
        self.digest = digest
        self.organisations = organisations
        self.agency = agency
        self.createdAt = createdAt
        self.createdBy = createdBy
        self.expiresAt = expiresAt
    }
}

/// Where managed API keys are kept. Each change is committed with its audit event.
public protocol KeyStore: Sendable {
    /// Every managed key, revoked ones included, oldest first.
    func managedKeys() async throws -> [ManagedKey]
    /// Stores a new key; false (and nothing written) when its id is taken.
    func createKey(_ key: ManagedKey, audit: AuditEntry) async throws -> Bool
    /// Marks a key revoked; the key as it now is, or nil when there is no such key or it was
    /// already revoked.
    func revokeKey(id: String, at: Date, by: String, audit: @escaping @Sendable (ManagedKey) -> AuditEntry) async throws -> ManagedKey?
    /// Gives a key a new digest; the old one stays valid until `previousValidUntil` (at once when
    /// it is `at`). Nil when there is no such live key.
    func rotateKey(
        id: String, digest: [UInt8], at: Date, previousValidUntil: Date, audit: @escaping @Sendable (ManagedKey) -> AuditEntry
    ) async throws -> ManagedKey?
    /// The console password a key's holder set, as its slow hash; nil when they set none.
    func consolePassword(keyId: String) async throws -> String?
    /// Keeps a key holder's console password (its slow hash, never the password), replacing any.
    func setConsolePassword(keyId: String, hash: String, at: Date, audit: AuditEntry) async throws
}
