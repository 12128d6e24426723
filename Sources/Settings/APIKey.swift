import Crypto
import Foundation

/// What an API key may do.
public enum Role: String, Sendable, CaseIterable, Codable {
    case referrer, agency, admin
    /// Keeps deliveries moving: the queues, pausing, resuming and testing agencies, dead letters
    /// without their content. Reads no referral.
    case operations
    /// Information governance: subject access searches (and, in the console, the audit trail).
    /// Changes no rules, agencies or keys.
    case governance
}

/// A configured API key: its id (what the audit log records) and role. The key itself is held only
/// as its SHA-256 digest.
public struct APIKey: Sendable, Equatable {
    public var id: String
    public var role: Role
    public var digest: [UInt8]
    /// For a referrer key: the ODS codes of the organisations it may submit for; nil lets it name any.
    public var organisations: Set<String>?
    /// For an agency key: the agency it answers for. A key without one (as configurations before
    /// the closed loop wrote them) may do nothing an agency does.
    public var agency: String?
    /// For a referrer key: where its referrals' state changes are pushed, signed with the secret
    /// in `secretEnv` (Standard Webhooks), like any delivery.
    public var callback: Callback?
    /// Who holds it: a person or a system. The audit trail names the owner for what the key does;
    /// a key configured without one is named by its id, as before owners existed.
    public var owner: String?
    /// After this moment the key is refused.
    public var expiresAt: Date?
    /// For a referrer key whose system signs what it sends (Standard Webhooks): the secret its
    /// signatures are checked with. Requests from the key without a valid signature are refused.
    public var signature: Signature?

    public struct Signature: Sendable, Equatable {
        public var secretEnv: String
        /// The secret itself (`whsec_…`), from the environment.
        public var secret: String?

        public init(secretEnv: String, secret: String?) {
            self.secretEnv = secretEnv
            self.secret = secret
        }
    }

    public struct Callback: Sendable, Equatable {
        public var url: String
        public var secretEnv: String?
        /// The secret itself, from the environment.
        public var secret: String?

        public init(url: String, secretEnv: String?, secret: String?) {
            self.url = url
            self.secretEnv = secretEnv
            self.secret = secret
        }
    }

    /// The delivery lane a referrer key's callbacks travel in.
    public var callbackLane: String { "callback:" + id }

    public init(id: String, role: Role, digest: [UInt8], organisations: Set<String>? = nil, agency: String? = nil) {
        self.id = id
        self.role = role
        self.digest = digest
        self.organisations = organisations
        self.agency = agency
    }

    public static func digest(of key: String) -> [UInt8] { Array(SHA256.hash(data: Array(key.utf8))) }

    /// The bytes a 64-character hexadecimal digest stands for, or nil when it is not one.
    static func bytes(fromHex hex: String) -> [UInt8]? {
        let characters = Array(hex.lowercased().utf8)
        guard characters.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        for index in stride(from: 0, to: characters.count, by: 2) {
            guard let byte = UInt8(String(decoding: characters[index..<index + 2], as: UTF8.self), radix: 16) else { return nil }
            bytes.append(byte)
        }
        return bytes
    }
}
