import Foundation
import HTTPEdge
import HTTPTypes
import Hummingbird
import ReferralModel
import UseCases

/// The referral form for referrers without a system: every problem shown beside its field, in the
/// API's words; then the receipt and the referral's live status.
extension Console {
    func addReferRoutes(_ refer: RouterGroup<GatewayContext>) {
        refer.get { _, context in referralForm(context: context, form: nil, issues: []) }
        refer.post { request, context in try await submit(request, context: context) }
        refer.get("follow") { request, _ in
            let id = Self.query(request, "id")?.trimmingCharacters(in: .whitespaces) ?? ""
            return ConsolePages.redirect("/console/refer/\(Self.percentEncoded(id))")
        }
        refer.get("{id}") { _, context in try await followReferral(context: context) }
        refer.post("{id}/answer") { request, context in try await answerQuestion(request, context: context) }
    }

    func form(for context: GatewayContext) -> ReferralForm {
        ReferralForm(vocabulary: components.configuration.settings.vocabulary, organisations: context.principal?.organisations)
    }

    func referralForm(context: GatewayContext, form submitted: ReferralAnswers?, issues: [FieldIssue], status: HTTPResponse.Status = .ok) -> Response
    {
        let (sections, unplaced) = form(for: context).drawn(submitted, issues: issues)
        let page = ReferPage(
            sections: sections, unplaced: unplaced, submission: submitted?["submission"] ?? ConsoleSessions.randomToken(),
            problemCount: issues.isEmpty ? nil : "\(issues.count) problem\(issues.count == 1 ? "" : "s")")
        return pages.page(.refer, frame(context, title: "Make a referral", current: "/console/refer"), page, status: status)
    }

    func submit(_ request: Request, context: GatewayContext) async throws -> Response {
        guard let principal = context.principal else { throw ConsoleRefusal(status: .unauthorized, message: "Sign in first.") }
        let submitted = try await ConsoleForm.decode(ReferralAnswers.self, from: request)
        let body = form(for: context).json(submitted)
        let key = submitted["submission"].flatMap { (1...255).contains($0.utf8.count) ? "console-" + $0 : nil }
        do {
            let accepted = try await components.intake.submit(
                body, actor: principal.keyId, organisations: principal.organisations, idempotencyKey: key, requestId: context.requestId)
            if !accepted.replayed {
                logger.info(
                    "Referral accepted", metadata: ["referral": "\(accepted.receipt.id)", "actor": "\(principal.keyId)", "via": "console"])
            }
            await tell(context, "Your referral is received. Its reference is \(accepted.receipt.id): keep it to follow the referral.")
            return ConsolePages.redirect("/console/refer/\(accepted.receipt.id)")
        } catch let refusal as ReferralIntake.Refusal {
            switch refusal {
            case .invalid(let issues):
                return referralForm(context: context, form: submitted, issues: issues, status: .unprocessableContent)
            case .organisationNotAllowed:
                let issue = FieldIssue(pointer: "/referrer/organisation", detail: "is not an organisation your key may refer for.")
                return referralForm(context: context, form: submitted, issues: [issue], status: .forbidden)
            case .idempotencyConflict:
                return referralForm(
                    context: context, form: nil,
                    issues: [FieldIssue(pointer: "", detail: "was already sent from this form with other answers: please start a new one.")],
                    status: .conflict)
            case .malformed(let description):
                throw ConsoleRefusal(status: .badRequest, message: "The form could not be read: \(description)")
            }
        }
    }

    func followReferral(context: GatewayContext, problem: String? = nil, status: HTTPResponse.Status = .ok) async throws -> Response {
        guard let principal = context.principal else { throw ConsoleRefusal(status: .unauthorized, message: "Sign in first.") }
        let id = ReferralID(context.parameters.get("id") ?? "")
        guard
            let report = try await components.intake.report(
                referralId: id, viewer: principal.keyId, role: .referrer, organisations: principal.organisations)
        else {
            throw ConsoleRefusal(status: .notFound, message: "There is no referral with this reference that you made.")
        }
        var referral = ReferralView(report)
        referral.returned = report.status == .returned
        referral.questions = (report.notes ?? []).filter { $0.kind == "returned" }.map { .init(at: ConsoleTime.local($0.at), text: $0.text) }
        referral.problem = problem
        var frame = frame(context, title: "Referral \(report.id)")
        // Until it is settled, the page reloads itself (no script) to show the status live; not while a question waits for an answer.
        frame.refresh = !referral.settled && !referral.returned
        return pages.page(.referStatus, frame, ReferralPage(referral: referral), status: status)
    }

    /// The referrer answers an agency's question: the answer joins the referral's reason and every
    /// agency that has the referral is sent the update.
    func answerQuestion(_ request: Request, context: GatewayContext) async throws -> Response {
        guard let principal = context.principal else { throw ConsoleRefusal(status: .unauthorized, message: "Sign in first.") }
        let id = ReferralID(context.parameters.get("id") ?? "")
        let form = try await ConsoleForm.decode(QuestionAnswerForm.self, from: request)
        guard let answer = ConsoleForm.trimmed(form.answer) else {
            return try await followReferral(context: context, problem: "Write your answer to the question.", status: .unprocessableContent)
        }
        do {
            let amended = try await components.loop.answerQuestion(
                referralId: id, answer: answer, phone: ConsoleForm.trimmed(form.phone), actor: principal.keyId, keyId: principal.keyId,
                organisations: principal.organisations)
            await tell(context, "Your answer is added to the referral and sent to \(amended.updating.joined(separator: ", ")).")
        } catch ReferralIntake.Refusal.invalid(let issues) {
            let words = issues.map {
                "\($0.pointer == "/reason" ? "The answer" : $0.pointer == "/subject/phone" ? "The phone number" : $0.pointer) \($0.detail)"
            }
            return try await followReferral(context: context, problem: words.joined(separator: " "), status: .unprocessableContent)
        } catch let refusal as ReferralLoop.Refusal {
            throw ProblemResponse(refusal)
        }
        return ConsolePages.redirect("/console/refer/\(id)")
    }
}
