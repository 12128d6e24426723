import Audit
import Crypto
import Foundation
import ReferralModel
import Settings
import Storage

/// Making, revoking and rotating API keys, each with its owner, each audited with who did it. A
/// new key is shown once and stored as its SHA-256 digest only. Keys written in switchboard.yaml
/// are listed too, but changed only there (and reloaded with SIGHUP).
public struct KeyAdministration: Sendable {
    public enum Refusal: Error, Sendable, Equatable {
        case invalid([FieldIssue])
        case notFound
        /// The key is written in switchboard.yaml.
        case configured(String)
        case taken(String)
    }

    /// What `POST /v1/keys` asks for.
    public struct Request: Sendable, Equatable {
        public var id: String?
        public var owner: String
        public var role: String
        public var organisations: [String]?
        public var agency: String?
        public var expiresAt: Date?

        public init(id: String?, owner: String, role: String, organisations: [String]?, agency: String?, expiresAt: Date?) {
            self.id = id
            self.owner = owner
            self.role = role
            self.organisations = organisations
            self.agency = agency
            self.expiresAt = expiresAt
        }
    }

    /// A key as made or rotated: the listing, and the key itself, shown this once.
    public struct Issued: Codable, Sendable, Equatable {
        public var key: String
        public var details: KeyListing
    }

    let store: any KeyStore
    let keys: LiveKeys
    let rules: LiveRules
    let clock: any WallClock

    public init(store: any KeyStore, keys: LiveKeys, rules: LiveRules, clock: any WallClock) {
        self.store = store
        self.keys = keys
        self.rules = rules
        self.clock = clock
    }

    public func list() -> [KeyListing] { keys.listing(now: clock.now()) }

    /// Reads the managed keys again from the store (another gateway may have changed them).
    public func refresh() async throws {
        keys.replaceManaged(try await store.managedKeys())
    }

    public func create(_ request: Request, by actor: String) async throws -> Issued {
        let now = clock.now()
        var issues: [FieldIssue] = []
        let id = request.id ?? "key-" + Identifier.make(now: now).suffix(12)
        if !Self.isKeyId(id) {
            issues.append(FieldIssue(pointer: "/id", detail: "must be 3 to 64 lower-case letters, digits and hyphens, such as gp-portal-botley."))
        }
        let owner = request.owner.trimmingCharacters(in: .whitespaces)
        if owner.isEmpty || owner.count > 100 {
            issues.append(FieldIssue(pointer: "/owner", detail: "must name the person or system that holds the key (1 to 100 characters)."))
        }
        let role = Role(rawValue: request.role)
        if role == nil { issues.append(FieldIssue(pointer: "/role", detail: "must be referrer, agency, admin, operations or governance.")) }
        if request.organisations != nil, role != .referrer {
            issues.append(FieldIssue(pointer: "/organisations", detail: "only a referrer key names the organisations it submits for."))
        }
        for (index, code) in (request.organisations ?? []).enumerated() where OrganisationType.ods.problem(with: code) != nil {
            issues.append(FieldIssue(pointer: "/organisations/\(index)", detail: "must be an ODS code such as K84001."))
        }
        switch (role, request.agency) {
        case (.agency?, nil): issues.append(FieldIssue(pointer: "/agency", detail: "an agency key must name the agency it answers for."))
        case (.agency?, let agency?) where !rules.current.agencies.agencies.contains(where: { $0.id.rawValue == agency }):
            issues.append(FieldIssue(pointer: "/agency", detail: "is not an agency in agencies.yaml."))
        case (_, .some) where role != .agency: issues.append(FieldIssue(pointer: "/agency", detail: "only an agency key names an agency."))
        default: break
        }
        if let expiry = request.expiresAt, expiry <= now { issues.append(FieldIssue(pointer: "/expiresAt", detail: "is in the past.")) }
        if keys.configured.contains(where: { $0.id == id }) { throw Refusal.taken(id) }
        guard issues.isEmpty, let role else { throw Refusal.invalid(issues) }
        let secret = Self.newSecret()
        let key = ManagedKey(
            id: id, owner: owner, role: role.rawValue, digest: APIKey.digest(of: secret), organisations: request.organisations.map { $0.sorted() },
            agency: request.agency, createdAt: now, createdBy: actor, expiresAt: request.expiresAt)
        let audit = AuditNarrative.keyCreated(
            at: now, actor: actor, id: id, owner: owner, role: role.rawValue, organisations: key.organisations, agency: key.agency,
            expiresAt: key.expiresAt)
        guard try await store.createKey(key, audit: audit) else { throw Refusal.taken(id) }
        try await refresh()
        return Issued(key: secret, details: try listing(id))
    }

    public func revoke(_ id: String, by actor: String) async throws -> KeyListing {
        if keys.configured.contains(where: { $0.id == id }) { throw Refusal.configured(id) }
        let now = clock.now()
        let revoked = try await store.revokeKey(id: id, at: now, by: actor) { key in
            AuditNarrative.keyRevoked(at: now, actor: actor, id: key.id, owner: key.owner)
        }
        guard revoked != nil else { throw Refusal.notFound }
        try await refresh()
        return try listing(id)
    }

    /// Gives a key a new secret; the old one is accepted for `overlap` seconds more (none by default).
    public func rotate(_ id: String, overlap: Double, by actor: String) async throws -> Issued {
        if keys.configured.contains(where: { $0.id == id }) { throw Refusal.configured(id) }
        guard (0...604_800).contains(overlap) else {
            throw Refusal.invalid([FieldIssue(pointer: "/overlapSeconds", detail: "must be between 0 and 604800 (a week).")])
        }
        let now = clock.now()
        let secret = Self.newSecret()
        let until = now.addingTimeInterval(overlap)
        let rotated = try await store.rotateKey(id: id, digest: APIKey.digest(of: secret), at: now, previousValidUntil: until) { key in
            AuditNarrative.keyRotated(at: now, actor: actor, id: key.id, owner: key.owner, previousUntil: until)
        }
        guard rotated != nil else { throw Refusal.notFound }
        try await refresh()
        return Issued(key: secret, details: try listing(id))
    }

    private func listing(_ id: String) throws -> KeyListing {
        guard let listing = list().first(where: { $0.id == id && $0.source == "managed" }) else { throw Refusal.notFound }
        return listing
    }

    /// `sbk_` and 32 random bytes in base64url: 256 bits, typed or pasted, never guessed.
    static func newSecret() -> String {
        let bytes = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
        return "sbk_"
            + bytes.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func isKeyId(_ id: String) -> Bool {
        (3...64).contains(id.count) && id.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
    }
}
