import Audit
import Delivery
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

    /// How long a request's id is remembered (its timestamp may be five minutes from now).
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

    /// The signature itself is checked by the same `WebhookSigner` the gateway signs its own
    /// deliveries with; what is added here is the webhook-id's form and the replay memory.
    private func check(
        keyId: String, secret: String, id: String?, timestamp: String?, signature: String?, body: [UInt8], now: Date
    ) async throws {
        guard let id, timestamp != nil, signature != nil else { throw Refusal.missing }
        guard (1...255).contains(id.utf8.count), id.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }), timestamp.flatMap(Int.init) != nil else {
            throw Refusal.malformed
        }
        guard let signer = WebhookSigner(secret: secret) else { throw Refusal.invalid }
        do {
            try signer.verify(id: id, timestamp: timestamp, signatures: signature, body: body, now: now)
        } catch .timestampOutOfTolerance {
            throw Refusal.stale
        } catch {
            throw Refusal.invalid
        }
        guard try await store.recordWebhook(keyId: keyId, webhookId: id, at: now, forgetBefore: now.addingTimeInterval(-Self.memory)) else {
            throw Refusal.replayed
        }
    }
}
