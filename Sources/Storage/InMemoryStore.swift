import Audit
import Foundation
import ReferralModel

/// Every storage job in memory, for unit tests: the same behaviour as the SQLite store (the shared
/// store contract tests hold both to it), nothing written to disk, gone when released.
public actor InMemoryStore: SwitchboardStore {
    struct StoredReferral {
        var record: IntakeRecord
        var deliveryIds: [DeliveryID]
    }

    struct Job {
        var deliveryId: DeliveryID
        var referralId: ReferralID
        var agency: AgencyID
        var rule: String
        var state: DeliveryState = .pending
        var attempts = 0
        var nextAttemptAt: Date
        var leaseToken: String?
        var leaseExpiresAt: Date?
        var lastError: String?
        var agencyReply: String?
        var deliveredAt: Date?
        var agencyReference: String?
        var deadLetteredAt: Date?
        var alternatives: [AgencyID]
        var needs: [String]?
        var deadlineAt: Date?
        var escalatedAt: Date?
        var answeredAt: Date?
        var declineReason: DeclineReason?
        var parent: DeliveryID?
        var notice: ReferralNotice?
    }

    private struct IdempotencyKey: Hashable {
        var actor: String
        var key: String
    }

    var referrals: [ReferralID: StoredReferral] = [:]
    var jobs = JobTable()
    private var idempotency: [IdempotencyKey: (digest: String, receipt: SubmissionReceipt)] = [:]
    var events: [AuditEvent] = []
    var attentionItems = AttentionList()
    var prunedReferrals: Set<ReferralID> = []
    var retentionRuns: [RetentionRun] = []
    var referralNotes: [ReferralID: [ReferralNote]] = [:]
    private var versions: [GovernedDocument: [RulesVersionRecord]] = [:]
    var changeProposals: [ChangeProposal] = []
    var keys: [ManagedKey] = []
    /// Console passwords' hashes by key id.
    var consolePasswords: [String: String] = [:]
    private var lanes: [AgencyID: AgencyLaneState] = [:]
    var postcodeImports = PostcodeImports()
    var webhookReceipts: [String: Date] = [:]
    var originalMessages: [ReferralID: OriginalMessage] = [:]
    /// Console sessions by digest.
    var sessions: [String: StoredSession] = [:]
    var auditTree: [MerkleNode: [UInt8]] = [:]

    public init() {}

    // MARK: ReferralStore

    public func accept(_ record: IntakeRecord) -> IntakeOutcome {
        if let claim = record.idempotency, let previous = idempotency[IdempotencyKey(actor: record.actor, key: claim.key)] {
            return previous.digest == claim.bodyDigest ? .replayed(previous.receipt) : .idempotencyConflict
        }
        referrals[record.referralId] = StoredReferral(record: record, deliveryIds: record.deliveries.map(\.route.deliveryId))
        if let original = record.original { originalMessages[record.referralId] = original }
        for delivery in record.deliveries {
            let route = delivery.route
            jobs[route.deliveryId] = Job(
                deliveryId: route.deliveryId, referralId: record.referralId, agency: route.agency, rule: route.rule,
                nextAttemptAt: record.receivedAt, alternatives: delivery.alternatives, needs: delivery.needs, deadlineAt: delivery.deadlineAt,
                parent: delivery.parent, notice: delivery.notice)
        }
        let receipt = SubmissionReceipt(
            id: record.referralId, status: record.routes.isEmpty ? record.held ?? .routed : .routed, routes: record.routes,
            rulesVersion: record.rulesVersion)
        if let claim = record.idempotency {
            idempotency[IdempotencyKey(actor: record.actor, key: claim.key)] = (claim.bodyDigest, receipt)
        }
        if let item = record.attention { attentionItems.append(item) }
        append(record.audit)
        return .accepted(receipt)
    }

    public func originalMessage(referralId: ReferralID) -> OriginalMessage? { originalMessages[referralId] }

    public func referralId(actor: String, idempotencyKey: String) -> ReferralID? {
        idempotency[IdempotencyKey(actor: actor, key: idempotencyKey)]?.receipt.id
    }

    public func report(referralId: ReferralID) -> ReferralReport? {
        guard let stored = referrals[referralId] else { return nil }
        let deliveries = stored.deliveryIds.compactMap { jobs[$0] }.map { job in
            var delivery = ReferralReport.Delivery(
                deliveryId: job.deliveryId, agency: job.agency, rule: job.rule, state: job.state, attempts: job.attempts,
                lastError: job.lastError, nextAttemptAt: job.state == .pending ? Timestamp.string(job.nextAttemptAt) : nil,
                deliveredAt: job.deliveredAt.map(Timestamp.string), alternatives: job.alternatives)
            delivery.answeredAt = job.answeredAt.map(Timestamp.string)
            delivery.deadlineAt = job.deadlineAt.map(Timestamp.string)
            delivery.declineReason = job.declineReason
            delivery.notice = job.notice?.type
            delivery.agencyReference = job.agencyReference
            return delivery
        }
        let attention = attentionItems.open(for: referralId)
        let history = events.filter { $0.referralId == referralId }.map {
            ReferralReport.HistoryEntry(at: $0.at, event: $0.kind, agency: $0.agency, detail: $0.detail)
        }
        let record = stored.record
        var report = ReferralReport(
            id: referralId,
            status: deliveries.isEmpty
                ? record.held ?? .routed
                : ReferralStatus.derive(from: deliveries.filter { $0.notice == nil }.map(\.state), attention: attention != nil),
            receivedAt: Timestamp.string(record.receivedAt),
            submittedBy: record.actor, rulesVersion: record.rulesVersion, urgency: record.referral.urgency, needs: record.referral.needs,
            deliveries: deliveries, history: history)
        report.attention = attention
        let notes = referralNotes[referralId] ?? []
        report.notes = notes.isEmpty ? nil : notes
        return report
    }

    // MARK: DeliveryQueue

    public func leaseDueDeliveries(now: Date, lanes: [LaneDemand]) -> [LeasedDelivery] {
        let token = Identifier.make(now: now)
        var leased: [LeasedDelivery] = []
        func order(_ job: Job) -> Date {
            job.nextAttemptAt.addingTimeInterval(-LeaseOrder.headStart(referrals[job.referralId]?.record.referral.urgency))
        }
        for lane in lanes where lane.limit > 0 {
            let due = jobs.pending(of: [lane.agency])
                .filter { $0.agency == lane.agency && $0.state == .pending && $0.nextAttemptAt <= now && !isLeased($0, now: now) }
                .sorted { (order($0), $0.deliveryId) < (order($1), $1.deliveryId) }
                .prefix(lane.limit)
            for var job in due {
                guard let record = referrals[job.referralId]?.record else { continue }
                job.leaseToken = token
                job.leaseExpiresAt = now.addingTimeInterval(lane.leaseDuration)
                jobs[job.deliveryId] = job
                var lease = LeasedDelivery(
                    deliveryId: job.deliveryId, referralId: job.referralId, agency: job.agency, rule: job.rule,
                    attempt: job.attempts + 1, leaseToken: token, referral: record.referral, receivedAt: record.receivedAt,
                    needs: job.needs, notice: job.notice)
                lease.requestId = record.requestId
                leased.append(lease)
            }
        }
        return leased
    }

    private func isLeased(_ job: Job, now: Date) -> Bool {
        job.leaseExpiresAt.map { $0 > now } ?? false
    }

    public func finish(_ completions: [DeliveryCompletion]) -> [Bool] {
        completions.map(finish)
    }

    private func finish(_ completion: DeliveryCompletion) -> Bool {
        let lease = completion.lease
        guard var job = jobs[lease.deliveryId], job.state == .pending, job.leaseToken == lease.leaseToken else { return false }
        job.attempts = lease.attempt
        switch completion.result {
        case .delivered(let reference), .accepted(let reference):
            let accepted = if case .accepted = completion.result { true } else { false }
            job.state = accepted ? .accepted : .delivered
            job.answeredAt = accepted ? completion.at : nil
            job.deliveredAt = completion.at
            job.agencyReference = reference
            job.lastError = nil
            job.agencyReply = nil
        case .retry(let at, let error):
            job.nextAttemptAt = at
            job.lastError = error
            job.agencyReply = completion.agencyReply
        case .deadLetter(let error):
            job.state = .deadLettered
            job.lastError = error
            job.agencyReply = completion.agencyReply
            job.deadLetteredAt = completion.at
        }
        job.leaseToken = nil
        job.leaseExpiresAt = nil
        jobs[job.deliveryId] = job
        append(completion.audit)
        return true
    }

    public func nextDueDate(agencies: [AgencyID]) -> Date? {
        let wanted = Set(agencies)
        return jobs.pending(of: wanted).filter { $0.state == .pending && wanted.contains($0.agency) }
            .map { max($0.nextAttemptAt, $0.leaseExpiresAt ?? .distantPast) }.min()
    }

    public func laneStates() -> [AgencyLaneState] {
        lanes.values.sorted { $0.agency < $1.agency }
    }

    public func saveLaneState(_ state: AgencyLaneState, audit: [AuditEntry]) {
        lanes[state.agency] = state
        append(audit)
    }

    public func queueCounts(now: Date) -> [LaneCounts] {
        var counts: [AgencyID: LaneCounts] = [:]
        var oldest: [AgencyID: Date] = [:]
        for job in jobs.values {
            var lane = counts[job.agency] ?? LaneCounts(agency: job.agency)
            switch job.state {
            case .pending:
                lane.pending += 1
                if job.nextAttemptAt <= now { lane.due += 1 } else { lane.scheduled += 1 }
                if isLeased(job, now: now) { lane.inFlight += 1 }
                if let received = referrals[job.referralId]?.record.receivedAt {
                    oldest[job.agency] = min(oldest[job.agency] ?? received, received)
                }
            case .deadLettered:
                lane.deadLettered += 1
            case .delivered, .accepted, .declined, .completed, .withdrawn, .returned:
                continue
            }
            counts[job.agency] = lane
        }
        return counts.values.map { lane in
            var lane = lane
            lane.oldestPendingSince = oldest[lane.agency]
            return lane
        }.sorted { $0.agency < $1.agency }
    }

    public func deadLetters(agency: AgencyID?, limit: Int) -> [DeadLetter] {
        jobs.values.filter { $0.state == .deadLettered && (agency == nil || $0.agency == agency) }
            .sorted { ($0.deadLetteredAt ?? .distantPast, $0.deliveryId) > ($1.deadLetteredAt ?? .distantPast, $1.deliveryId) }
            .prefix(limit).map(Self.deadLetter)
    }

    public func requeue(_ selection: DeadLetterSelection, now: Date, audit: @escaping @Sendable (DeadLetter) -> AuditEntry) -> [DeadLetter] {
        let chosen: [Job]
        switch selection {
        case .deliveries(let ids):
            chosen = ids.compactMap { jobs[$0] }.filter { $0.state == .deadLettered }
        case .agency(let agency, let since):
            chosen = jobs.values.filter {
                $0.state == .deadLettered && $0.agency == agency && ($0.deadLetteredAt ?? .distantPast) >= (since ?? .distantPast)
            }.sorted { $0.deliveryId < $1.deliveryId }
        }
        return chosen.map { job in
            let letter = Self.deadLetter(job)
            var requeued = job
            requeued.state = .pending
            requeued.attempts = 0
            requeued.nextAttemptAt = now
            requeued.deadLetteredAt = nil
            requeued.escalatedAt = nil
            jobs[job.deliveryId] = requeued
            let entry = audit(letter)
            var entries = [entry]
            for index in attentionItems.indices where attentionItems[index].deliveryId == job.deliveryId && attentionItems[index].resolvedAt == nil {
                attentionItems[index].resolvedAt = Timestamp.string(now)
                attentionItems[index].resolvedBy = entry.actor ?? "operator"
                attentionItems[index].resolution = DeadLetter.requeuedResolution
                entries.append(DeadLetter.attentionResolved(attentionItems[index].id, letter: letter, at: now, by: entry.actor))
            }
            append(entries)
            return letter
        }
    }

    private static func deadLetter(_ job: Job) -> DeadLetter {
        DeadLetter(
            deliveryId: job.deliveryId, referralId: job.referralId, agency: job.agency, rule: job.rule, attempts: job.attempts,
            reason: job.lastError ?? "", deadLetteredAt: job.deadLetteredAt, agencyReply: job.agencyReply)
    }

    // MARK: AuditLog

    public func auditHead() -> (sequence: Int64, hash: String)? { events.last.map { ($0.sequence, $0.hash) } }

    public func appendAudit(_ entries: [AuditEntry]) {
        append(entries)
    }

    public func auditEvents(afterSequence: Int64, limit: Int) -> [AuditEvent] {
        // Sequences start at 1 and have no gaps, so event n sits at index n - 1.
        let start = Int(max(afterSequence, 0))
        guard start < events.count else { return [] }
        return Array(events[start..<min(events.count, start + limit)])
    }

    public func auditActivity(since: Date, kinds: Set<AuditKind>) -> [AuditHourCount] {
        let since = String(Timestamp.string(since).prefix(13))
        let kinds = Set(kinds.map(\.rawValue))
        var counts: [String: [String: Int]] = [:]
        for event in events where event.at.prefix(13) >= since && kinds.contains(event.kind) {
            counts[String(event.at.prefix(13)), default: [:]][event.kind, default: 0] += 1
        }
        return counts.keys.sorted().flatMap { hour in
            counts[hour, default: [:]].sorted { $0.key < $1.key }.map { AuditHourCount(hour: hour, kind: $0.key, count: $0.value) }
        }
    }

    func append(_ entries: [AuditEntry]) {
        for entry in entries {
            let previous = events.last
            events.append(
                AuditChain.seal(entry, sequence: (previous?.sequence ?? 0) + 1, previousHash: previous?.hash ?? AuditChain.genesis))
        }
    }

    // MARK: RulesVersionStore

    public func recordVersion(_ record: RulesVersionRecord, of document: GovernedDocument, expectedLatest: Int?, audit: [AuditEntry])
        -> Bool
    {
        let latest = versions[document]?.last?.number
        guard latest == expectedLatest, record.number == (latest ?? 0) + 1 else { return false }
        var stored = record
        stored.text = record.text ?? ""
        versions[document, default: []].append(stored)
        append(audit)
        return true
    }

    public func latestVersion(of document: GovernedDocument) -> RulesVersionRecord? { versions[document]?.last }

    public func versionHistory(of document: GovernedDocument, limit: Int) -> [RulesVersionRecord] {
        (versions[document] ?? []).reversed().prefix(limit).map { version in
            var listed = version
            listed.text = nil
            return listed
        }
    }

    public func version(_ number: Int, of document: GovernedDocument) -> RulesVersionRecord? {
        versions[document]?.first { $0.number == number }
    }
}
