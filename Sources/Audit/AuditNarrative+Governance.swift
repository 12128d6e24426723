import Foundation
import ReferralModel

extension AuditNarrative {
    /// An agencies version went live. `summary` names agencies by id only; `textDigest` ties the
    /// stored text to the chain.
    public static func agenciesApplied(
        at: Date, actor: String, number: Int, version: String, replacing previous: String, note: String, agencyCount: Int,
        summary: String, textDigest: String
    ) -> AuditEntry {
        AuditEntry(
            at: Timestamp.string(at), kind: .agenciesApplied, actor: actor,
            detail:
                "version \(number) (\(version)) replaces \(previous); \(note); \(agencyCount) agencies; \(summary); text sha256 \(textDigest)")
    }

    /// A change was proposed. `document` is `rules` or `agencies`; ids and versions only.
    public static func changeProposed(
        at: Date, actor: String, document: String, proposal: String, baseVersion: String, version: String, summary: String
    ) -> AuditEntry {
        AuditEntry(
            at: Timestamp.string(at), kind: .changeProposed, actor: actor,
            detail: "\(document) proposal \(proposal): \(version) over \(baseVersion); \(summary); awaits a second administrator")
    }

    public static func changeApproved(at: Date, actor: String, document: String, proposal: String, proposedBy: String, version: String)
        -> AuditEntry
    {
        AuditEntry(
            at: Timestamp.string(at), kind: .changeApproved, actor: actor,
            detail: "\(document) proposal \(proposal) by \(proposedBy) approved by \(actor); \(version) is live")
    }

    /// A proposal was rejected (or withdrawn by its proposer). The reason, typed by a person, is
    /// kept with the proposal, not in the chain.
    public static func changeRejected(at: Date, actor: String, document: String, proposal: String, proposedBy: String) -> AuditEntry {
        AuditEntry(
            at: Timestamp.string(at), kind: .changeRejected, actor: actor,
            detail: "\(document) proposal \(proposal) by \(proposedBy) \(actor == proposedBy ? "withdrawn" : "rejected") by \(actor)")
    }

    public static func changeSuperseded(at: Date, actor: String, document: String, proposal: String, baseVersion: String, live: String)
        -> AuditEntry
    {
        AuditEntry(
            at: Timestamp.string(at), kind: .changeSuperseded, actor: actor,
            detail: "\(document) proposal \(proposal) was made against \(baseVersion), but \(live) is live: it can no longer apply")
    }
}
