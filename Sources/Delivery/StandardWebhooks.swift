import Crypto
import Foundation

/// Standard Webhooks signatures: `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`,
/// keyed by a secret written `whsec_<base64>`.
public struct WebhookSigner: Sendable {
    private let key: SymmetricKey

    /// - Parameter secret: `whsec_` followed by the base64 key, as agencies are given it.
    public init?(secret: String) {
        guard secret.hasPrefix("whsec_"), let bytes = Data(base64Encoded: String(secret.dropFirst(6))), bytes.count >= 16
        else { return nil }
        key = SymmetricKey(data: bytes)
    }

    /// A fresh random secret in `whsec_` form.
    public static func generateSecret() -> String {
        "whsec_" + SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() }
    }

    public func signature(id: String, timestamp: Int, body: [UInt8]) -> String {
        var mac = HMAC<SHA256>(key: key)
        mac.update(data: Array("\(id).\(timestamp).".utf8))
        mac.update(data: body)
        return "v1," + Data(mac.finalize()).base64EncodedString()
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
                HMAC<SHA256>.isValidAuthenticationCode(provided, authenticating: signed, using: key)
            {
                return
            }
        }
        throw .signatureMismatch
    }
}
