import AdapterKit
import Crypto

/// What an agency's system answered. Its text is the agency's and may name the person (a FHIR
/// OperationOutcome often quotes the patient), so logs, the audit trail and the referrer's view
/// name it only by size and digest, and the text itself, bounded, is kept with the delivery for
/// administrators.
struct AgencyReplyEvidence: Sendable {
    /// How much of a reply is kept.
    static let keptBytes = 4_096

    /// `reply 312 bytes, sha256:1a2b3c4d5e6f`: enough to match a reply against the agency's own logs.
    let summary: String
    /// The reply as text, at most `keptBytes` of it; nil when it was empty.
    let kept: String?

    init(body: [UInt8]) {
        let digest = SHA256.hash(data: body).prefix(6).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
        summary = "reply \(body.count) bytes, sha256:\(digest)"
        if body.isEmpty {
            kept = nil
        } else {
            let text = String(decoding: body.prefix(Self.keptBytes), as: UTF8.self)
            kept = body.count > Self.keptBytes ? text + " … (\(body.count - Self.keptBytes) more bytes)" : text
        }
    }
}

extension DeliveryOutcome {
    /// The outcome with a failure's reason naming the reply, when there was one, by size and digest.
    func citing(_ reply: AgencyReplyEvidence) -> DeliveryOutcome {
        guard reply.kept != nil else { return self }
        switch self {
        case .delivered, .accepted: return self
        case .retryable(let reason, let after): return .retryable(reason: "\(reason) (\(reply.summary))", retryAfter: after)
        case .permanent(let reason): return .permanent(reason: "\(reason) (\(reply.summary))")
        }
    }
}
