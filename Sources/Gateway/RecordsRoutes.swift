import Foundation
import HTTPEdge
import Hummingbird
import ReferralModel
import UseCases

/// `/v1/records`: subject access, for information governance. Every search is audited with the
/// key that made it and the reason it gave.
struct RecordsRoutes: Sendable {
    let access: SubjectAccess
    let erasure: Erasure
    let loop: ReferralLoop

    /// `POST /v1/records/{id}/rectify` with `{"reason": "...", "subject": {...}}`: the person's
    /// details corrected (a JSON Merge Patch of `subject`), sent to each agency that has it.
    func rectify(_ request: Request, context: GatewayContext) async throws -> Response {
        guard let principal = context.principal else { throw ProblemResponse(.unauthorised, detail: "An API key is required.") }
        try JSONResponse.requireJSON(request, what: "the rectification")
        let object = try await RulesRoutes.jsonObject(request)
        var issues = object.members.map(\.key).filter { !["reason", "subject"].contains($0) }.map {
            FieldIssue(pointer: jsonPointer("", $0), detail: "is not a member this request knows; use reason and subject.")
        }
        var reason = ""
        if case .string(let given)? = object["reason"] { reason = given.trimmingCharacters(in: .whitespacesAndNewlines) }
        if reason.isEmpty || reason.count > 200 {
            issues.append(
                FieldIssue(pointer: "/reason", detail: "is required: why the details are corrected (a case reference), at most 200 characters."))
        }
        guard let subject = object["subject"], case .object = subject else {
            issues.append(FieldIssue(pointer: "/subject", detail: "is required: the person's details to correct, as a JSON Merge Patch."))
            throw ProblemResponse(.invalidRequest, detail: "The rectification is not valid.", errors: issues)
        }
        guard issues.isEmpty else { throw ProblemResponse(.invalidRequest, detail: "The rectification is not valid.", errors: issues) }
        let id = ReferralID(context.parameters.get("id") ?? "")
        do {
            let amended = try await loop.rectify(
                referralId: id, subject: subject, reason: SubjectAccess.reasonForAudit(reason), actor: principal.actor)
            return try JSONResponse.make(amended, status: .ok)
        } catch let refusal as ReferralIntake.Refusal {
            throw ReferralRoutes.problem(refusal)
        } catch let refusal as ReferralLoop.Refusal {
            throw ProblemResponse(refusal)
        }
    }

    /// What an erasure came to.
    struct ErasureAnswer: Codable, Sendable {
        var referralId: ReferralID
        /// `erased`, or `awaiting-approval` (a second person must approve).
        var state: String
        var withdrawn: [DeliveryID]?
        var requestedBy: String?
        var approvedBy: String?
        var safeguarding: [AgencyID]?
    }

    /// `POST /v1/records/{id}/erase` with `{"reason": "..."}`
    func erase(_ request: Request, context: GatewayContext) async throws -> Response {
        guard let principal = context.principal else { throw ProblemResponse(.unauthorised, detail: "An API key is required.") }
        try JSONResponse.requireJSON(request, what: "the erasure")
        let object = try await RulesRoutes.jsonObject(request)
        var issues = object.members.map(\.key).filter { $0 != "reason" }.map {
            FieldIssue(pointer: jsonPointer("", $0), detail: "is not a member this request knows; use reason.")
        }
        guard case .string(let reason)? = object["reason"], !reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, reason.count <= 200
        else {
            issues.append(
                FieldIssue(pointer: "/reason", detail: "is required: why the personal data is erased (a case reference), at most 200 characters."))
            throw ProblemResponse(.invalidRequest, detail: "The erasure is not valid.", errors: issues)
        }
        guard issues.isEmpty else { throw ProblemResponse(.invalidRequest, detail: "The erasure is not valid.", errors: issues) }
        let id = ReferralID(context.parameters.get("id") ?? "")
        do {
            switch try await erasure.erase(id, reason: reason, actor: principal.actor) {
            case .erased(let withdrawn, let requestedBy):
                return try JSONResponse.make(
                    ErasureAnswer(
                        referralId: id, state: "erased", withdrawn: withdrawn, requestedBy: requestedBy,
                        approvedBy: requestedBy == nil ? nil : principal.actor), status: .ok)
            case .awaitingApproval(let requestedBy, let safeguarding):
                return try JSONResponse.make(
                    ErasureAnswer(referralId: id, state: "awaiting-approval", requestedBy: requestedBy, safeguarding: safeguarding), status: .accepted
                )
            }
        } catch Erasure.Refusal.notFound {
            throw ProblemResponse(.notFound, detail: "There is no referral \(id) whose personal data is still held.")
        } catch Erasure.Refusal.reasonMissing {
            throw ProblemResponse(
                .invalidRequest, detail: "The erasure is not valid.", errors: [FieldIssue(pointer: "/reason", detail: "is required.")])
        }
    }

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
        let governance = guards.group(routes, [.governance])
        governance.get { request, context in try await find(request, context: context) }
        governance.post("{id}/erase") { request, context in try await erase(request, context: context) }
        governance.post("{id}/rectify") { request, context in try await rectify(request, context: context) }
        return routes
    }
}
