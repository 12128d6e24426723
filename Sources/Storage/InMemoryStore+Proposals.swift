import Audit
import Foundation
import ReferralModel

extension InMemoryStore {
    public func saveProposal(_ proposal: ChangeProposal, audit: [AuditEntry]) {
        var stored = proposal
        stored.text = proposal.text ?? ""
        changeProposals.append(stored)
        append(audit)
    }

    public func proposal(id: String) -> ChangeProposal? { changeProposals.first { $0.id == id } }

    public func proposals(of document: GovernedDocument, limit: Int) -> [ChangeProposal] {
        changeProposals.filter { $0.document == document }
            .sorted { ($0.proposedAt, $0.id) > ($1.proposedAt, $1.id) }
            .prefix(limit)
            .map { proposal in
                var listed = proposal
                listed.text = nil
                return listed
            }
    }

    public func decideProposal(_ id: String, decision: ChangeProposal.Decision, audit: [AuditEntry]) -> Bool {
        guard let index = changeProposals.firstIndex(where: { $0.id == id }), changeProposals[index].state == .pending else { return false }
        changeProposals[index].state = decision.state
        changeProposals[index].decision = decision
        append(audit)
        return true
    }
}
