import Foundation
import HTTPEdge
import Hummingbird
import ReferralModel
import UseCases

extension RulesRoutes {
    /// `POST /v1/rules/impact?days=N` (and `/v1/agencies/impact`): what the proposed file in the
    /// body would have done to the referrals of the last N days (30 by default), replayed against
    /// what is live. The file is validated first (422 with its problems); nothing is stored or sent.
    func impact(_ request: Request, context: GatewayContext) async throws -> Response {
        guard context.principal != nil else { throw ProblemResponse(.unauthorised, detail: "An API key is required.") }
        try requireYAML(request)
        var days = 30
        if let text = request.uri.queryParameters.get("days") {
            guard let value = Int(text), (1...366).contains(value) else {
                throw ProblemResponse(
                    .invalidRequest, detail: "days is how many days of referrals to replay: a whole number from 1 to 366.",
                    errors: [FieldIssue(pointer: "/days", detail: "must be a whole number from 1 to 366.")])
            }
            days = value
        }
        let text = try await yamlText(request)
        do {
            return try JSONResponse.make(try await administrator.impact(of: text, document: document, days: days), status: .ok)
        } catch let refusal as RulesAdministrator.Refusal {
            throw problem(refusal)
        }
    }
}
