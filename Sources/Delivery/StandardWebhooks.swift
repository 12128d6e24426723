import Crypto
import Foundation

/// Standard Webhooks signatures: `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`,
/// keyed by a secret written `whsec_<base64>`. While a secret is being rotated the signer holds
/// the new one and the old one, and each delivery carries both signatures, space-separated, as
/// the standard allows: an agency verifies with whichever secret it has, so the switch needs no
/// moment when both sides change at once.
public struct WebhookSigner: Sendable {
    private let keys: [SymmetricKey]

    /// - Parameter secret: `whsec_` followed by the base64 key, as agencies are given it.
    public init?(secret: String) {
        self.init(secrets: [secret])
    }

    /// - Parameter secrets: the current secret first, then any still being retired.
    public init?(secrets: [String]) {
        var keys: [SymmetricKey] = []
        for secret in secrets {
            guard secret.hasPrefix("whsec_"), let bytes = Data(base64Encoded: String(secret.dropFirst(6))), bytes.count >= 16
            else { return nil }
            keys.append(SymmetricKey(data: bytes))
        }
        guard !keys.isEmpty else { return nil }
        self.keys = keys
    }

    /// A fresh random secret in `whsec_` form.
    public static func generateSecret() -> String {
        "whsec_" + SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() }
    }

    /// One `v1,` signature per secret, space-separated, the current secret's first.
    public func signature(id: String, timestamp: Int, body: [UInt8]) -> String {
        keys.map { key in
            var mac = HMAC<SHA256>(key: key)
            mac.update(data: Array("\(id).\(timestamp).".utf8))
            mac.update(data: body)
            return "v1," + Data(mac.finalize()).base64EncodedString()
        }.joined(separator: " ")
    }

    /// The three headers a signed delivery carries.
    public func headers(id: String, timestamp: Int, body: [UInt8]) -> [(name: String, value: String)] {
        [
            ("webhook-id", id), ("webhook-timestamp", String(timestamp)),
            ("webhook-signature", signature(id: id, timestamp: timestamp, body: body)),
        ]
    }

    public enum VerificationFailure: Error, Equatable, CustomStringConvertible {
        case missingHeaders
        case timestampOutOfTolerance
        case signatureMismatch

        public var description: String {
            switch self {
            case .missingHeaders: "webhook-id, webhook-timestamp or webhook-signature is missing"
            case .timestampOutOfTolerance: "webhook-timestamp is more than five minutes from now"
            case .signatureMismatch: "no signature matches the body"
            }
        }
    }

    /// Verifies a received delivery as a receiver must: timestamp within five minutes, and one of
    /// the space-separated `v1,` signatures matching in constant time.
    public func verify(id: String?, timestamp: String?, signatures: String?, body: [UInt8], now: Date = Date()) throws(VerificationFailure) {
        guard let id, let timestamp, let signatures, let seconds = Int(timestamp) else { throw .missingHeaders }
        guard abs(now.timeIntervalSince1970 - Double(seconds)) <= 300 else { throw .timestampOutOfTolerance }
        let signed = Array("\(id).\(timestamp).".utf8) + body
        for candidate in signatures.split(separator: " ") where candidate.hasPrefix("v1,") {
            if let provided = Data(base64Encoded: String(candidate.dropFirst(3))),
                keys.contains(where: { HMAC<SHA256>.isValidAuthenticationCode(provided, authenticating: signed, using: $0) })
            {
                return
            }
        }
        throw .signatureMismatch
    }
}
