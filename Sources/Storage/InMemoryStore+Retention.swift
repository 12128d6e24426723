import Audit
import Foundation
import ReferralModel

extension InMemoryStore {
    public func pruneClosedReferrals(_ policy: RetentionPolicy, at: Date, audit: @escaping @Sendable (Int) -> AuditEntry) -> Int {
        func isOpen(_ job: Job?) -> Bool {
            guard let job else { return true }
            switch job.state {
            case .pending, .delivered, .returned: return true
            case .accepted:
                guard let acceptedBefore = policy.acceptedBefore else { return true }
                return (job.answeredAt ?? job.deliveredAt ?? .distantPast) >= acceptedBefore
            case .deadLettered:
                return !attentionItems.contains { $0.deliveryId == job.deliveryId && $0.resolvedAt != nil }
            default: return false
            }
        }
        let ids = referrals.filter { id, stored in
            stored.record.receivedAt < policy.receivedBefore && !prunedReferrals.contains(id)
                && !stored.deliveryIds.contains { isOpen(jobs[$0]) }
                && !attentionItems.contains { $0.referralId == id && $0.resolvedAt == nil }
        }.map(\.key)
        guard !ids.isEmpty else { return 0 }
        for id in ids {
            prunedReferrals.insert(id)
            referralNotes[id] = nil
            originalMessages[id] = nil
            for delivery in referrals[id]?.deliveryIds ?? [] { jobs[delivery]?.agencyReply = nil }
        }
        append([audit(ids.count)])
        return ids.count
    }

    public func claimRetentionRun(day: String, gateway: String, at: Date) -> Bool {
        guard !retentionRuns.contains(where: { $0.day == day }) else { return false }
        retentionRuns.append(RetentionRun(day: day, gateway: gateway, startedAt: at, finishedAt: nil, pruned: nil))
        return true
    }

    public func finishRetentionRun(day: String, at: Date, pruned: Int) {
        for index in retentionRuns.indices where retentionRuns[index].day == day {
            retentionRuns[index].finishedAt = at
            retentionRuns[index].pruned = pruned
        }
    }

    public func lastRetentionRun() -> RetentionRun? { retentionRuns.max { $0.day < $1.day } }
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

extension InMemoryStore {
    public func referralsRouted(since: Date) -> [AgencyID: Int] {
        let earliest = Identifier.earliest(at: since)
        var referrals: [AgencyID: Set<ReferralID>] = [:]
        for job in jobs.values where job.deliveryId.rawValue >= earliest && job.notice == nil {
            referrals[job.agency, default: []].insert(job.referralId)
        }
        return referrals.mapValues(\.count)
    }
}
