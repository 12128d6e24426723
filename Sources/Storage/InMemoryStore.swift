import Audit
import Foundation
import ReferralModel

/// Every storage job in memory, for unit tests: the same behaviour as the SQLite store (the shared
/// store contract tests hold both to it), nothing written to disk, gone when released.
public actor InMemoryStore: SwitchboardStore {
    private struct StoredReferral {
        var record: IntakeRecord
        var deliveryIds: [String]
    }

    private struct Job {
        var deliveryId: String
        var referralId: String
        var agency: String
        var rule: String
        var state: DeliveryState = .pending
        var attempts = 0
        var nextAttemptAt: Date
        var leaseToken: String?
        var leaseExpiresAt: Date?
        var lastError: String?
        var deliveredAt: Date?
        var agencyReference: String?
        var alternatives: [String]
        var needs: [String]?
    }

    private struct IdempotencyKey: Hashable {
        var actor: String
        var key: String
    }

    private var referrals: [String: StoredReferral] = [:]
    private var jobs: [String: Job] = [:]
    private var idempotency: [IdempotencyKey: (digest: String, receipt: SubmissionReceipt)] = [:]
    private var events: [AuditEvent] = []
    private var versions: [RulesVersionRecord] = []

    public init() {}

    // MARK: ReferralStore

    public func accept(_ record: IntakeRecord) -> IntakeOutcome {
        if let claim = record.idempotency, let previous = idempotency[IdempotencyKey(actor: record.actor, key: claim.key)] {
            return previous.digest == claim.bodyDigest ? .replayed(previous.receipt) : .idempotencyConflict
        }
        referrals[record.referralId] = StoredReferral(record: record, deliveryIds: record.routes.map(\.deliveryId))
        for route in record.routes {
            jobs[route.deliveryId] = Job(
                deliveryId: route.deliveryId, referralId: record.referralId, agency: route.agency, rule: route.rule,
                nextAttemptAt: record.receivedAt, alternatives: record.alternatives[route.deliveryId] ?? [],
                needs: record.needs[route.deliveryId])
        }
        let receipt = SubmissionReceipt(id: record.referralId, status: .routed, routes: record.routes, rulesVersion: record.rulesVersion)
        if let claim = record.idempotency {
            idempotency[IdempotencyKey(actor: record.actor, key: claim.key)] = (claim.bodyDigest, receipt)
        }
        append(record.audit)
        return .accepted(receipt)
    }

    public func report(referralId: String) -> ReferralReport? {
        guard let stored = referrals[referralId] else { return nil }
        let deliveries = stored.deliveryIds.compactMap { jobs[$0] }.map { job in
            ReferralReport.Delivery(
                deliveryId: job.deliveryId, agency: job.agency, rule: job.rule, state: job.state, attempts: job.attempts,
                lastError: job.lastError, nextAttemptAt: job.state == .pending ? Timestamp.string(job.nextAttemptAt) : nil,
                deliveredAt: job.deliveredAt.map(Timestamp.string), alternatives: job.alternatives)
        }
        let history = events.filter { $0.referralId == referralId }.map {
            ReferralReport.HistoryEntry(at: $0.at, event: $0.kind, agency: $0.agency, detail: $0.detail)
        }
        let record = stored.record
        return ReferralReport(
            id: referralId, status: ReferralStatus.derive(from: deliveries.map(\.state)), receivedAt: Timestamp.string(record.receivedAt),
            submittedBy: record.actor, rulesVersion: record.rulesVersion, urgency: record.referral.urgency, needs: record.referral.needs,
            deliveries: deliveries, history: history)
    }

    // MARK: DeliveryQueue

    public func leaseDueDeliveries(now: Date, limit: Int, leaseDuration: TimeInterval) -> [LeasedDelivery] {
        let due = jobs.values
            .filter { $0.state == .pending && $0.nextAttemptAt <= now && ($0.leaseExpiresAt.map { $0 <= now } ?? true) }
            .sorted { ($0.nextAttemptAt, $0.deliveryId) < ($1.nextAttemptAt, $1.deliveryId) }
            .prefix(limit)
        let token = Identifier.make(now: now)
        var leased: [LeasedDelivery] = []
        for var job in due {
            guard let record = referrals[job.referralId]?.record else { continue }
            job.attempts += 1
            job.leaseToken = token
            job.leaseExpiresAt = now.addingTimeInterval(leaseDuration)
            jobs[job.deliveryId] = job
            leased.append(
                LeasedDelivery(
                    deliveryId: job.deliveryId, referralId: job.referralId, agency: job.agency, rule: job.rule, attempt: job.attempts,
                    leaseToken: token, referral: record.referral, receivedAt: record.receivedAt, needs: job.needs))
        }
        return leased.sorted { $0.deliveryId < $1.deliveryId }
    }

    @discardableResult
    public func finish(_ lease: LeasedDelivery, result: AttemptResult, audit: [AuditEntry], now: Date) -> Bool {
        guard var job = jobs[lease.deliveryId], job.state == .pending, job.leaseToken == lease.leaseToken else { return false }
        switch result {
        case .delivered(let reference):
            job.state = .delivered
            job.deliveredAt = now
            job.agencyReference = reference
            job.lastError = nil
        case .retry(let at, let error):
            job.nextAttemptAt = at
            job.lastError = error
        case .deadLetter(let error):
            job.state = .deadLettered
            job.lastError = error
        }
        job.leaseToken = nil
        job.leaseExpiresAt = nil
        jobs[job.deliveryId] = job
        append(audit)
        return true
    }

    public func nextDueDate() -> Date? {
        jobs.values.filter { $0.state == .pending }.map { max($0.nextAttemptAt, $0.leaseExpiresAt ?? .distantPast) }.min()
    }

    // MARK: AuditLog

    public func appendAudit(_ entries: [AuditEntry]) {
        append(entries)
    }

    public func auditEvents(afterSequence: Int64, limit: Int) -> [AuditEvent] {
        // Sequences start at 1 and have no gaps, so event n sits at index n - 1.
        let start = Int(max(afterSequence, 0))
        guard start < events.count else { return [] }
        return Array(events[start..<min(events.count, start + limit)])
    }

    private func append(_ entries: [AuditEntry]) {
        for entry in entries {
            let previous = events.last
            events.append(
                AuditChain.seal(entry, sequence: (previous?.sequence ?? 0) + 1, previousHash: previous?.hash ?? AuditChain.genesis))
        }
    }

    // MARK: RulesVersionStore

    public func recordRules(_ record: RulesVersionRecord, expectedLatest: Int?, audit: [AuditEntry]) -> Bool {
        let latest = versions.last?.number
        guard latest == expectedLatest, record.number == (latest ?? 0) + 1 else { return false }
        var stored = record
        stored.text = record.text ?? ""
        versions.append(stored)
        append(audit)
        return true
    }

    public func latestRules() -> RulesVersionRecord? { versions.last }

    public func rulesHistory(limit: Int) -> [RulesVersionRecord] {
        versions.reversed().prefix(limit).map { version in
            var listed = version
            listed.text = nil
            return listed
        }
    }

    public func rules(number: Int) -> RulesVersionRecord? { versions.first { $0.number == number } }
}
