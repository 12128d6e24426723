import HTTPEdge
import HTTPTypes
import Hummingbird
import UseCases

/// Checks the Standard Webhooks signature of a request from a key that must sign (401 otherwise).
struct SignedRequests: Sendable {
    let signatures: InboundSignatures

    static let id = HTTPField.Name("webhook-id")!
    static let timestamp = HTTPField.Name("webhook-timestamp")!
    static let signature = HTTPField.Name("webhook-signature")!

    func verify(_ request: Request, body: [UInt8], principal: Principal) async throws {
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
