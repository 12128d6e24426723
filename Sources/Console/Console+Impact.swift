import Foundation
import HTTPEdge
import HTTPTypes
import Hummingbird
import ReferralModel
import UseCases

/// What a proposed rules or agencies change would have done to the referrals of the last week,
/// beside its diff in the editor and on a pending proposal for the administrator approving it:
/// the same replay `POST /v1/rules/impact` and `switchboard rules impact` give.
extension Console {
    /// The console replays a week: enough to show a change's effect, quick enough for a page.
    static let impactDays = 7

    func addImpactRoutes(_ admin: RouterGroup<GatewayContext>, document: GovernedDocument) {
        admin.get(.init(stringLiteral: "\(document.rawValue)/proposals/{id}/impact")) { _, context in
            try await proposalImpact(document, context: context)
        }
    }

    /// The replay of `text` as the editor shows it.
    func impactView(of text: String, document: GovernedDocument) async -> EditorPage.Impact {
        do {
            return Self.view(try await components.rules.impact(of: text, document: document, days: Self.impactDays), days: Self.impactDays)
        } catch {
            return EditorPage.Impact(
                days: Self.impactDays, referrals: 0, changed: 0, agencies: [], outcomes: [], noDifference: false,
                problem: "The referrals could not be replayed just now; try again.")
        }
    }

    static func view(_ impact: ChangeImpact, days: Int) -> EditorPage.Impact {
        var view = EditorPage.Impact(
            days: days, referrals: impact.referrals, changed: impact.changed,
            agencies: impact.agencies.filter { $0.gained > 0 || $0.lost > 0 }.map {
                var row = EditorPage.Impact.AgencyRow(
                    agency: $0.agency, before: $0.before, after: $0.after, gained: $0.gained, lost: $0.lost, gainedExamples: $0.gainedExamples,
                    lostExamples: $0.lostExamples)
                row.anyGainedExamples = !row.gainedExamples.isEmpty
                row.anyLostExamples = !row.lostExamples.isEmpty
                return row
            },
            outcomes: impact.outcomes.filter { $0.entering > 0 || $0.leaving > 0 }.map {
                var row = EditorPage.Impact.OutcomeRow(
                    outcome: $0.outcome, before: $0.before, after: $0.after, entering: $0.entering, leaving: $0.leaving,
                    enteringExamples: $0.enteringExamples, leavingExamples: $0.leavingExamples)
                row.anyEnteringExamples = !row.enteringExamples.isEmpty
                row.anyLeavingExamples = !row.leavingExamples.isEmpty
                return row
            },
            noDifference: impact.changed == 0)
        view.anyAgencies = !view.agencies.isEmpty
        view.anyOutcomes = !view.outcomes.isEmpty
        return view
    }

    /// `GET /console/admin/rules/proposals/ID/impact`: the editor, with a pending proposal's impact.
    func proposalImpact(_ document: GovernedDocument, context: GatewayContext) async throws -> Response {
        let id = context.parameters.get("id") ?? ""
        guard let proposal = try await components.rules.proposal(id), proposal.document == document, let text = proposal.text else {
            throw ConsoleRefusal(status: .notFound, message: "There is no such proposal for the \(document.rawValue).")
        }
        let impact = await impactView(of: text, document: document)
        return try await editor(document, context: context) { page in
            page.proposalImpact = .init(id: proposal.id, summary: proposal.summary, by: proposal.proposedBy, impact: impact)
        }
    }
}
