import Audit
import Foundation
import ReferralModel

extension InMemoryStore {
    public func loopReferral(_ id: ReferralID) -> LoopReferral? {
        guard let stored = referrals[id], !prunedReferrals.contains(id) else { return nil }
        let deliveries = stored.deliveryIds.compactMap { jobs[$0] }.map {
            LoopDelivery(
                deliveryId: $0.deliveryId, agency: $0.agency, rule: $0.rule, state: $0.state, alternatives: $0.alternatives, needs: $0.needs,
                deadlineAt: $0.deadlineAt, escalatedAt: $0.escalatedAt, notice: $0.notice)
        }
        return LoopReferral(
            referralId: id, referral: stored.record.referral, receivedAt: stored.record.receivedAt, submittedBy: stored.record.actor,
            deliveries: deliveries, attention: attentionItems.open(for: id))
    }

    public func applyLoopChange(_ change: LoopChange) -> Bool {
        guard var stored = referrals[change.referralId] else { return false }
        if let transition = change.transition {
            guard var job = jobs[transition.deliveryId], job.referralId == change.referralId, transition.from.contains(job.state) else {
                return false
            }
            job.state = transition.to
            job.answeredAt = change.at
            job.declineReason = transition.declineReason ?? job.declineReason
            job.agencyReference = transition.agencyReference ?? job.agencyReference
            jobs[job.deliveryId] = job
        }
        if let amended = change.amendedReferral {
            guard !prunedReferrals.contains(change.referralId) else { return false }
            stored.record.referral = amended
        }
        for (id, deadline) in change.redelivered where jobs[id]?.state == .returned && jobs[id]?.referralId == change.referralId {
            jobs[id]?.state = .delivered
            jobs[id]?.deadlineAt = deadline
            jobs[id]?.escalatedAt = nil
            jobs[id]?.answeredAt = nil
        }
        for id in change.escalated where jobs[id]?.escalatedAt == nil { jobs[id]?.escalatedAt = change.at }
        for id in change.withdrawn where [.pending, .delivered, .accepted, .deadLettered, .returned].contains(jobs[id]?.state) {
            jobs[id]?.state = .withdrawn
            jobs[id]?.answeredAt = change.at
        }
        for added in change.added {
            jobs[added.route.deliveryId] = Job(
                deliveryId: added.route.deliveryId, referralId: change.referralId, agency: added.route.agency, rule: added.route.rule,
                nextAttemptAt: change.at, alternatives: added.alternatives, needs: added.needs, deadlineAt: added.deadlineAt, parent: added.parent,
                notice: added.notice)
            stored.deliveryIds.append(added.route.deliveryId)
        }
        referrals[change.referralId] = stored
        referralNotes[change.referralId, default: []] += change.notes
        if let item = change.openAttention { attentionItems.append(item) }
        if let resolve = change.resolveAttention, let index = attentionItems.firstIndex(where: { $0.id == resolve.id && $0.resolvedAt == nil }) {
            attentionItems[index].resolvedAt = Timestamp.string(change.at)
            attentionItems[index].resolvedBy = resolve.by
            attentionItems[index].resolution = resolve.resolution
        }
        append(change.audit)
        return true
    }

    public func worklist(agency: AgencyID, states: Set<DeliveryState>?, limit: Int, before: DeliveryID?) -> [WorkItem] {
        jobs.values
            .filter { job in
                job.notice == nil && job.agency == agency && (states?.contains(job.state) ?? true) && (before.map { job.deliveryId < $0 } ?? true)
            }
            .sorted { $0.deliveryId > $1.deliveryId }
            .prefix(limit)
            .compactMap { job in
                guard let record = referrals[job.referralId]?.record else { return nil }
                var item = WorkItem(
                    referralId: job.referralId, deliveryId: job.deliveryId, state: job.state, urgency: record.referral.urgency,
                    receivedAt: Timestamp.string(record.receivedAt), deliveredAt: job.deliveredAt.map(Timestamp.string),
                    respondBy: record.referral.respondBy)
                item.deadlineAt = job.deadlineAt.map(Timestamp.string)
                return item
            }
    }

    public func attention(limit: Int) -> [AttentionItem] {
        func rank(_ item: AttentionItem) -> Int {
            switch item.urgency {
            case .emergency: 0
            case .urgent: 1
            default: 2
            }
        }
        // Emergencies first, then the soonest due (items without a due time after those with one), then the oldest.
        return Array(
            attentionItems.filter { $0.resolvedAt == nil }
                .sorted {
                    (rank($0), $0.dueAt == nil ? 1 : 0, $0.dueAt ?? "", $0.since, $0.id) < (
                        rank($1), $1.dueAt == nil ? 1 : 0, $1.dueAt ?? "", $1.since, $1.id
                    )
                }
                .prefix(limit))
    }

    public func attentionSummary(now: Date) -> [AttentionSummary] {
        let open = attentionItems.filter { $0.resolvedAt == nil }
        let stamp = Timestamp.string(now)
        return Dictionary(grouping: open, by: { $0.urgency ?? .routine }).map { urgency, items in
            AttentionSummary(urgency: urgency, open: items.count, overdue: items.filter { ($0.dueAt ?? stamp) < stamp }.count)
        }.sorted { $0.urgency.rawValue < $1.urgency.rawValue }
    }

    public func waitingUrgentDeliveries(agencies: [AgencyID], limit: Int) -> [DueEscalation] {
        let wanted = Set(agencies)
        return jobs.pending(of: wanted)
            .filter { job in
                job.state == .pending && wanted.contains(job.agency) && job.notice == nil && job.escalatedAt == nil
                    && referrals[job.referralId].map { $0.record.referral.urgency != .routine } == true
            }
            .sorted { $0.deliveryId < $1.deliveryId }
            .prefix(limit)
            .map {
                DueEscalation(referralId: $0.referralId, deliveryId: $0.deliveryId, agency: $0.agency, state: .pending, deadlineAt: $0.deadlineAt)
            }
    }

    public func dueEscalations(now: Date, limit: Int) -> [DueEscalation] {
        jobs.escalating(now: now)
            .filter { job in
                job.escalatedAt == nil
                    && (job.state == .deadLettered
                        || ([.pending, .delivered, .returned].contains(job.state) && (job.deadlineAt.map { $0 <= now } ?? false)))
            }
            .sorted { ($0.deadlineAt ?? .distantPast, $0.deliveryId) < ($1.deadlineAt ?? .distantPast, $1.deliveryId) }
            .prefix(limit)
            .map {
                DueEscalation(referralId: $0.referralId, deliveryId: $0.deliveryId, agency: $0.agency, state: $0.state, deadlineAt: $0.deadlineAt)
            }
    }

    /// The earliest deadline of a delivery that has not yet escalated: when the deadline watcher
    /// next has something to do (the simulation moves its clock there).
    public func nextDeadline() -> Date? {
        jobs.nextDeadline
    }

    public func referralsReceived(from: Date, to: Date, after: ReferralID?, limit: Int) -> [ReceivedReferral] {
        let low = ReferralID(Identifier.earliest(at: from))
        let high = ReferralID(Identifier.earliest(at: to))
        return referrals.keys
            .filter { id in id >= low && id < high && (after.map { id > $0 } ?? true) && !prunedReferrals.contains(id) }
            .sorted()
            .prefix(limit)
            .compactMap { id in
                referrals[id].map { ReceivedReferral(referralId: id, receivedAt: $0.record.receivedAt, referral: $0.record.referral) }
            }
    }

    public func notes(referralId: ReferralID) -> [ReferralNote] { referralNotes[referralId] ?? [] }
}
