import Audit
import Foundation
import ReferralModel

extension InMemoryStore {
    public func pruneClosedReferrals(receivedBefore: Date, at: Date, audit: @escaping @Sendable (Int) -> AuditEntry) -> Int {
        let open: Set<DeliveryState> = [.pending, .delivered, .accepted, .deadLettered]
        let ids = referrals.filter { id, stored in
            stored.record.receivedAt < receivedBefore && !prunedReferrals.contains(id)
                && !stored.deliveryIds.contains { open.contains(jobs[$0]?.state ?? .pending) }
                && !attentionItems.contains { $0.referralId == id && $0.resolvedAt == nil }
        }.map(\.key)
        guard !ids.isEmpty else { return 0 }
        for id in ids {
            prunedReferrals.insert(id)
            referralNotes[id] = nil
            originalMessages[id] = nil
        }
        append([audit(ids.count)])
        return ids.count
    }
}

extension InMemoryStore {
    /// Memory always takes writes.
    public func checkWritable() async throws {}
}

extension InMemoryStore {
    public func referralIds(about search: PersonSearch) -> [ReferralID] {
        referrals.filter { !prunedReferrals.contains($0.key) && search.matches($0.value.record.referral) }
            .sorted { ($0.value.record.receivedAt, $0.key) < ($1.value.record.receivedAt, $1.key) }.map(\.key)
    }
}

extension InMemoryStore {
    public func auditEvents(referralId: ReferralID) -> [AuditEvent] { events.filter { $0.referralId == referralId } }

    public func eraseReferral(_ id: ReferralID, at: Date, audit: @escaping @Sendable ([DeliveryID]) -> [AuditEntry]) -> [DeliveryID]? {
        guard let stored = referrals[id], !prunedReferrals.contains(id) else { return nil }
        prunedReferrals.insert(id)
        referralNotes[id] = nil
        originalMessages[id] = nil
        var withdrawn: [DeliveryID] = []
        for delivery in stored.deliveryIds {
            jobs[delivery]?.agencyReply = nil
            guard jobs[delivery]?.state == .pending else { continue }
            jobs[delivery]?.state = .withdrawn
            jobs[delivery]?.answeredAt = at
            jobs[delivery]?.leaseToken = nil
            withdrawn.append(delivery)
        }
        for index in attentionItems.indices where attentionItems[index].referralId == id && attentionItems[index].resolvedAt == nil {
            attentionItems[index].resolvedAt = Timestamp.string(at)
            attentionItems[index].resolvedBy = "erasure"
            attentionItems[index].resolution = "personal data erased"
        }
        append(audit(withdrawn))
        return withdrawn
    }
}
