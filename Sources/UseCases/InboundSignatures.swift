import Audit
import Crypto
import Foundation
import ReferralModel
import Storage

/// Standard Webhooks signatures on what a referrer's system sends, for keys configured with
/// `signature: {secret_env}`: a request without a valid `webhook-signature` over its id, timestamp
/// and body, with a timestamp more than five minutes from now, or with a `webhook-id` the key
/// already sent in the last hour, is refused and audited (why, never the body).
public struct InboundSignatures: Sendable {
    public enum Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        case missing, malformed, stale, invalid, replayed

        public var description: String {
            switch self {
            case .missing: "the request is not signed: this key's requests need webhook-id, webhook-timestamp and webhook-signature headers"
            case .malformed: "webhook-id or webhook-timestamp is not in the Standard Webhooks form"
            case .stale: "webhook-timestamp is more than 5 minutes from the gateway's time"
            case .invalid: "webhook-signature does not match the body with this key's signing secret"
            case .replayed: "this webhook-id was already received from this key in the last hour: a replay"
            }
        }
    }

    /// How far a request's timestamp may be from now, and how long its id is remembered.
    public static let tolerance: TimeInterval = 300
    public static let memory: TimeInterval = 3_600

    let store: any WebhookReceiptStore & AuditLog
    let clock: any WallClock

    public init(store: any WebhookReceiptStore & AuditLog, clock: any WallClock = SystemClock()) {
        self.store = store
        self.clock = clock
    }

    /// Checks one request's signature headers against `secret` (`whsec_…`); throws `Refusal`.
    public func verify(keyId: String, secret: String, id: String?, timestamp: String?, signature: String?, body: [UInt8]) async throws {
        let now = clock.now()
        do {
            try await check(keyId: keyId, secret: secret, id: id, timestamp: timestamp, signature: signature, body: body, now: now)
        } catch let refusal as Refusal {
            try await store.appendAudit([AuditNarrative.signatureRefused(keyId: keyId, at: now, why: refusal.description)])
            throw refusal
        }
    }

    private func check(
        keyId: String, secret: String, id: String?, timestamp: String?, signature: String?, body: [UInt8], now: Date
    ) async throws {
        guard let id, let timestamp, let signature else { throw Refusal.missing }
        guard (1...255).contains(id.utf8.count), id.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }), let seconds = Int(timestamp) else {
            throw Refusal.malformed
        }
        guard abs(now.timeIntervalSince1970 - Double(seconds)) <= Self.tolerance else { throw Refusal.stale }
        guard let key = Data(base64Encoded: String(secret.dropFirst(secret.hasPrefix("whsec_") ? 6 : 0))) else { throw Refusal.invalid }
        let expected = HMAC<SHA256>.authenticationCode(
            for: Array("\(id).\(timestamp).".utf8) + body, using: SymmetricKey(data: key))
        // Several signatures may be sent (during a rotation); one valid v1 is enough.
        let valid = signature.split(separator: " ").contains { candidate in
            let parts = candidate.split(separator: ",", maxSplits: 1)
            guard parts.count == 2, parts[0] == "v1", let bytes = Data(base64Encoded: String(parts[1])) else { return false }
            return Self.equal(Array(bytes), Array(expected))
        }
        guard valid else { throw Refusal.invalid }
        guard try await store.recordWebhook(keyId: keyId, webhookId: id, at: now, forgetBefore: now.addingTimeInterval(-Self.memory)) else {
            throw Refusal.replayed
        }
    }

    /// Compares in time that does not depend on where they differ.
    static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
