import HTTPEdge
import HTTPTypes
import Hummingbird
import ReferralModel
import UseCases

/// Checks the Standard Webhooks signature of a request from a key that must sign (401 otherwise).
struct SignedRequests: Sendable {
    let signatures: InboundSignatures

    static let id = HTTPField.Name("webhook-id")!
    static let timestamp = HTTPField.Name("webhook-timestamp")!
    static let signature = HTTPField.Name("webhook-signature")!

    func verify(_ request: Request, body: [UInt8], principal: Principal) async throws {
        // Whoever sends these headers sends them as Standard Webhooks shapes them, signing key or not.
        var issues: [FieldIssue] = []
        if let id = request.headers[Self.id], id.isEmpty || id.utf8.count > 255 {
            issues.append(FieldIssue(pointer: "", detail: "the webhook-id header is not 1 to 255 characters."))
        }
        if let timestamp = request.headers[Self.timestamp], timestamp.isEmpty || !timestamp.utf8.allSatisfy({ (0x30...0x39).contains($0) }) {
            issues.append(FieldIssue(pointer: "", detail: "the webhook-timestamp header is not Unix seconds (digits only)."))
        }
        guard issues.isEmpty else {
            throw ProblemResponse(.invalidRequest, detail: "The webhook headers are not as Standard Webhooks sends them.", errors: issues)
        }
        guard let secret = principal.signatureSecret else { return }
        do {
            try await signatures.verify(
                keyId: principal.keyId, secret: secret, id: request.headers[Self.id], timestamp: request.headers[Self.timestamp],
                signature: request.headers[Self.signature], body: body)
        } catch let refusal as InboundSignatures.Refusal {
            var headers = HTTPFields()
            headers[.wwwAuthenticate] = "Bearer realm=\"switchboard\""
            throw ProblemResponse(.unauthorised, detail: "Refused: \(refusal.description).", headers: headers)
        }
    }
}
