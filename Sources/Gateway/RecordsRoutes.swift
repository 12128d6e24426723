import Foundation
import HTTPEdge
import Hummingbird
import ReferralModel
import UseCases

/// `/v1/records`: subject access, for information governance. Every search is audited with the
/// key that made it and the reason it gave.
struct RecordsRoutes: Sendable {
    let access: SubjectAccess

    /// `GET /v1/records?nhsNumber=N&reason=R` or `?familyName=F&birthDate=D&reason=R`
    func find(_ request: Request, context: GatewayContext) async throws -> Response {
        guard let principal = context.principal else { throw ProblemResponse(.unauthorised, detail: "An API key is required.") }
        let parameters = request.uri.queryParameters
        var issues: [FieldIssue] = []
        let known = ["nhsNumber", "familyName", "birthDate", "reason"]
        for (name, _) in parameters where !known.contains(String(name)) {
            issues.append(
                FieldIssue(
                    pointer: "/\(QueueRoutes.printable(String(name)))",
                    detail: "is not a parameter this request knows; use \(known.joined(separator: ", "))."))
        }
        let checked = SubjectAccess.search(
            nhsNumber: parameters.get("nhsNumber"), familyName: parameters.get("familyName"), birthDate: parameters.get("birthDate"),
            reason: parameters.get("reason"))
        issues += checked.refusals.map { FieldIssue(pointer: "/\($0.parameter)", detail: $0.detail) }
        guard issues.isEmpty, let search = checked.search else {
            throw ProblemResponse(.invalidRequest, detail: "The search is not valid.", errors: issues)
        }
        return try JSONResponse.make(try await access.find(search, reason: checked.reason, actor: principal.actor), status: .ok)
    }

    func collection(_ guards: APIGuard) -> RouteCollection<GatewayContext> {
        let routes = RouteCollection(context: GatewayContext.self)
        guards.group(routes, [.governance]).get { request, context in try await find(request, context: context) }
        return routes
    }
}
