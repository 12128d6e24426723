import Audit
import Foundation
import ReferralModel
import Storage
import Testing

/// Proposed changes awaiting a second administrator, as every store keeps them: read back whole,
/// listed newest first without their texts, decided once.
@Suite struct ProposalContractTests {
    func proposal(_ number: Int, of document: GovernedDocument = .rules) -> ChangeProposal {
        ChangeProposal(
            id: "proposal-\(number)", document: document, baseVersion: "sha256:base", version: "sha256:v\(number)", proposedBy: "Ada Administrator",
            proposedAt: "2026-12-0\(number)T10:00:00.000Z", summary: "rules changed: falls", text: "rules: [] # \(number)\n")
    }

    func entry(_ text: String) -> AuditEntry {
        AuditEntry(at: "2026-12-06T10:00:00.000Z", kind: .changeProposed, actor: "Ada Administrator", detail: text)
    }

    @Test(arguments: StoreKind.allCases) func proposalsAreKeptListedNewestFirstAndDecidedOnce(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        for number in 1...3 { try await store.saveProposal(proposal(number), audit: [entry("proposed \(number)")]) }
        try await store.saveProposal(proposal(4, of: .agencies), audit: [entry("proposed 4")])
        #expect(try await store.proposal(id: "proposal-2") == proposal(2), "read back whole, with its text")
        #expect(try await store.proposal(id: "proposal-9") == nil)
        let listed = try await store.proposals(of: .rules, limit: 2)
        #expect(listed.map(\.id) == ["proposal-3", "proposal-2"])
        #expect(listed.allSatisfy { $0.text == nil && $0.state == .pending }, "listings leave the texts out")
        #expect(try await store.proposals(of: .agencies, limit: 10).map(\.id) == ["proposal-4"])

        let approval = ChangeProposal.Decision(state: .approved, by: "Ben Administrator", at: "2026-12-06T11:00:00.000Z")
        let rejection = ChangeProposal.Decision(state: .rejected, by: "Cy Administrator", at: "2026-12-06T11:00:01.000Z", reason: "not yet")
        async let approved = store.decideProposal("proposal-2", decision: approval, audit: [entry("approved 2")])
        async let rejected = store.decideProposal("proposal-2", decision: rejection, audit: [entry("rejected 2")])
        let (approvalWon, rejectionWon) = try await (approved, rejected)
        #expect(approvalWon != rejectionWon, "a proposal is decided once")
        let decided = try #require(try await store.proposal(id: "proposal-2"))
        #expect(decided.decision == (approvalWon ? approval : rejection) && decided.state == decided.decision?.state)
        #expect(try await store.decideProposal("proposal-9", decision: approval, audit: [entry("nothing")]) == false)
        let details = try await store.auditEvents(afterSequence: 0, limit: 20).map(\.detail)
        #expect(details == ["proposed 1", "proposed 2", "proposed 3", "proposed 4", approvalWon ? "approved 2" : "rejected 2"])
    }
}
