import Audit
import Foundation
import ReferralModel
import Settings
import Storage

extension ReferralLoop {
    /// What a cancellation came to.
    public struct Cancelled: Sendable, Codable, Equatable {
        public var referralId: ReferralID
        /// The agencies that had it and are being told, through their own adapters.
        public var told: [AgencyID]
        /// Deliveries taken back before they went (or before anyone took them on).
        public var withdrawn: Int
    }

    /// The referrer cancels a referral that is not completed: deliveries not yet sent are
    /// withdrawn, and every agency that has it is sent a `referral.cancelled` notice through the
    /// delivery engine, signed and retried like any delivery. Only the key that submitted it, or a
    /// key for its referring organisation, may; for any other it does not exist (404).
    /// - Parameters:
    ///   - actor: who the audit trail names (the key's owner).
    ///   - keyId: the key it is asked with: a referral is its submitting key's (or its organisations').
    public func cancel(
        referralId: ReferralID, actor: String, keyId: String? = nil, organisations: Set<String>?, reason: String?
    ) async throws -> Cancelled {
        guard Identifier.isWellFormed(referralId), let loop = try await store.loopReferral(referralId) else { throw Refusal.notFound }
        let own = loop.submittedBy == (keyId ?? actor) || (organisations?.contains(loop.referral.referrer.organisation) ?? false)
        guard own else { throw Refusal.notFound }
        let deliveries = loop.deliveries.filter { $0.notice == nil }
        if let completed = deliveries.first(where: { $0.state == .completed }) { throw Refusal.notAlong(current: completed.state) }
        let open = deliveries.filter { [.pending, .delivered, .accepted, .deadLettered, .returned].contains($0.state) }
        guard !open.isEmpty else { throw Refusal.notAlong(current: deliveries.last?.state ?? .withdrawn) }
        let now = clock.now()
        var change = LoopChange(referralId: referralId, at: now)
        change.withdrawn = open.map(\.deliveryId)
        let told = open.filter { [.delivered, .accepted, .returned].contains($0.state) }
        for delivery in told {
            change.added.append(
                NewDelivery(
                    route: Route(agency: delivery.agency, rule: "cancellation", deliveryId: DeliveryID.make(now: now)), alternatives: [], needs: nil,
                    deadlineAt: nil, parent: delivery.deliveryId,
                    notice: ReferralNotice(type: "referral.cancelled", about: delivery.deliveryId.rawValue)))
        }
        var note: String?
        if let reason, !reason.isEmpty {
            let id = Identifier.make(now: now)
            change.notes.append(ReferralNote(id: id, deliveryId: nil, at: Timestamp.string(now), author: actor, kind: "cancel", text: reason))
            note = id
        }
        if let item = loop.attention {
            change.resolveAttention = (item.id, actor, "cancelled by the referrer")
            change.audit.append(
                AuditNarrative.attentionResolved(
                    referralId: referralId, item: item.id, at: now, actor: actor, resolution: "cancelled by the referrer"))
        }
        change.audit.append(
            AuditNarrative.referralCancelled(
                referralId: referralId, at: now, actor: actor, told: told.map(\.agency), withdrawn: open.count, note: note))
        _ = try await store.applyLoopChange(change)
        if !told.isEmpty { onRerouted() }
        return Cancelled(referralId: referralId, told: told.map(\.agency), withdrawn: open.count)
    }
}
