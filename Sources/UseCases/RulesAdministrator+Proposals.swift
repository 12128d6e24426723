import Audit
import Foundation
import ReferralModel
import Routing
import Settings
import Storage

/// Changes that need a second administrator: where the deployment requires approval for a
/// document, a change is proposed against its live version, and goes live only when another
/// administrator approves it, and only over that version. Both are named in the audit trail.
extension RulesAdministrator {
    /// A proposal as made, with what it would change.
    public struct Proposed: Sendable {
        public var proposal: ChangeProposal
        public var change: RulesChange
    }

    /// Proposes a new text of `document`, made against the live version `ifMatch` names. It is
    /// validated in full now, as an apply would be, and again when it is approved.
    public func propose(_ text: String, to document: GovernedDocument, ifMatch: [String], actor: String) async throws -> Proposed {
        let rules = try prepare(text, for: document)
        if let issues = try await placesProblem(rules, file: fileName(of: document)) { throw Refusal.invalid(issues) }
        try checkPrecondition(ifMatch, document: document)
        let snapshot = live.current
        let change = change(document, from: snapshot.text(of: document), to: text)
        let now = clock.now()
        let proposal = ChangeProposal(
            id: Identifier.make(now: now), document: document, baseVersion: snapshot.version(of: document),
            version: DocumentVersion.of(text), proposedBy: actor, proposedAt: Timestamp.string(now), summary: change.summary, text: text)
        try await store.saveProposal(
            proposal,
            audit: [
                AuditNarrative.changeProposed(
                    at: now, actor: actor, document: document.rawValue, proposal: proposal.id, baseVersion: proposal.baseVersion,
                    version: proposal.version, summary: proposal.summary)
            ])
        logger.notice(
            "Change proposed", metadata: ["document": "\(document.rawValue)", "proposal": "\(proposal.id)", "actor": "\(actor)"])
        return Proposed(proposal: proposal, change: change)
    }

    /// Approves a pending proposal and makes it live. The approver must be another administrator,
    /// and the document must still be at the version the proposal was made against; otherwise the
    /// proposal is superseded and nothing changes.
    public func approve(_ id: String, actor: String) async throws -> Outcome {
        guard let proposal = try await store.proposal(id: id), let text = proposal.text else { throw Refusal.noSuchProposal(id) }
        guard proposal.state == .pending else { throw Refusal.notPending(proposal.state) }
        guard proposal.proposedBy != actor else { throw Refusal.sameAdministrator(actor) }
        let document = proposal.document
        return try await exclusively {
            let live = self.live.current.version(of: document)
            guard live == proposal.baseVersion else {
                _ = try await store.decideProposal(
                    id, decision: .init(state: .superseded, by: actor, at: Timestamp.string(clock.now())),
                    audit: [
                        AuditNarrative.changeSuperseded(
                            at: clock.now(), actor: actor, document: document.rawValue, proposal: id, baseVersion: proposal.baseVersion,
                            live: live)
                    ])
                throw Refusal.stale(live: live)
            }
            // What it depends on may have changed since it was proposed (the agencies, the directory).
            let rules = try prepare(text, for: document)
            if let issues = try await placesProblem(rules, file: fileName(of: document)) { throw Refusal.invalid(issues) }
            let outcome = try await installIfChanged(
                rules, document: document, source: .approval, actor: actor,
                note: "proposal \(id) by \(proposal.proposedBy), approved by \(actor)")
            _ = try await store.decideProposal(
                id, decision: .init(state: .approved, by: actor, at: Timestamp.string(clock.now())),
                audit: [
                    AuditNarrative.changeApproved(
                        at: clock.now(), actor: actor, document: document.rawValue, proposal: id, proposedBy: proposal.proposedBy,
                        version: outcome.record.version)
                ])
            return outcome
        }
    }

    /// Rejects a pending proposal (its proposer withdraws it the same way). The reason is kept with it.
    public func reject(_ id: String, actor: String, reason: String?) async throws -> ChangeProposal {
        guard let proposal = try await store.proposal(id: id) else { throw Refusal.noSuchProposal(id) }
        guard proposal.state == .pending else { throw Refusal.notPending(proposal.state) }
        let decision = ChangeProposal.Decision(state: .rejected, by: actor, at: Timestamp.string(clock.now()), reason: reason)
        let decided = try await store.decideProposal(
            id, decision: decision,
            audit: [
                AuditNarrative.changeRejected(
                    at: clock.now(), actor: actor, document: proposal.document.rawValue, proposal: id, proposedBy: proposal.proposedBy)
            ])
        guard decided else { throw Refusal.notPending(try await store.proposal(id: id)?.state ?? .rejected) }
        var rejected = proposal
        rejected.state = .rejected
        rejected.decision = decision
        return rejected
    }
}
