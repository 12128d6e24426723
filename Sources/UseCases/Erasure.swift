import Audit
import Foundation
import ReferralModel
import Storage

/// Erasing a referral's personal data on request (the right to erasure, or a referral sent about the
/// wrong person): its key is destroyed, so the referral as sent, its notes, the message it came as
/// and agencies' replies can no longer be read anywhere, while its ids, deliveries and the audit
/// trail stay and `audit verify` stays green. A referral with a safeguarding delivery still open
/// needs a second person: the first asks (audited), a different key approves by asking again.
public struct Erasure: Sendable {
    let store: any SwitchboardStore
    let clock: any WallClock
    /// Whether an agency is a safeguarding recipient, in the agencies in force now.
    let safeguarding: @Sendable (AgencyID) -> Bool

    public init(store: any SwitchboardStore, clock: any WallClock, safeguarding: @escaping @Sendable (AgencyID) -> Bool) {
        self.store = store
        self.clock = clock
        self.safeguarding = safeguarding
    }

    public enum Outcome: Sendable, Equatable {
        /// Erased; the deliveries not yet made were withdrawn. `requestedBy` asked first, where a
        /// second person was needed.
        case erased(withdrawn: [DeliveryID], requestedBy: String?)
        /// Waiting for a second person, asked for by `requestedBy` (who may not approve it).
        case awaitingApproval(requestedBy: String, safeguarding: [AgencyID])
    }

    public enum Refusal: Error, Sendable, Equatable {
        /// No such referral, or its personal data is gone already.
        case notFound
        case reasonMissing
    }

    /// Erases `referralId`'s personal data, or records the request where a second person must approve.
    public func erase(_ referralId: ReferralID, reason: String, actor: String) async throws -> Outcome {
        let reason = SubjectAccess.reasonForAudit(reason.trimmingCharacters(in: .whitespacesAndNewlines))
        guard !reason.isEmpty, reason.count <= 200 else { throw Refusal.reasonMissing }
        guard Identifier.isWellFormed(referralId), let loop = try await store.loopReferral(referralId) else { throw Refusal.notFound }
        let now = clock.now()
        let openSafeguarding = loop.deliveries.filter { $0.state.isOpen && safeguarding($0.agency) }.map(\.agency)
        var requester: String?
        if !openSafeguarding.isEmpty {
            let events = try await store.auditEvents(referralId: referralId)
            let asked = events.last { $0.kind == AuditKind.erasureRequested.rawValue }?.actor
            guard let asked, asked != actor else {
                if asked == nil {
                    try await store.appendAudit([
                        AuditNarrative.erasureRequested(referralId: referralId, at: now, by: actor, reason: reason, safeguarding: openSafeguarding)
                    ])
                }
                return .awaitingApproval(requestedBy: asked ?? actor, safeguarding: openSafeguarding)
            }
            requester = asked
        }
        guard
            let withdrawn = try await store.eraseReferral(
                referralId, at: now,
                audit: { [requester] withdrawn in
                    [
                        AuditNarrative.referralErased(
                            referralId: referralId, at: now, by: actor, reason: reason, approvedBy: requester, withdrawn: withdrawn.count)
                    ]
                })
        else { throw Refusal.notFound }
        return .erased(withdrawn: withdrawn, requestedBy: requester)
    }
}
