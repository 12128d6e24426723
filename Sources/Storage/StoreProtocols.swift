import Audit
import Foundation
import ReferralModel

/// Referrals as intake stores them and reports read them back. Each method is one transaction.
public protocol ReferralStore: Sendable {
    /// Stores a referral with its jobs and audit events, atomically, honouring idempotency.
    func accept(_ record: IntakeRecord) async throws -> IntakeOutcome

    /// The referral's deliveries and history, or nil when there is no such referral.
    func report(referralId: String) async throws -> ReferralReport?
}

/// The delivery queue: jobs are leased, not taken, so a worker that dies leaves a lease that
/// expires and the job runs again.
public protocol DeliveryQueue: Sendable {
    /// Leases up to `limit` due jobs, oldest due first, bumping each one's attempt count. A job
    /// whose lease has expired (its worker died) is due again.
    func leaseDueDeliveries(now: Date, limit: Int, leaseDuration: TimeInterval) async throws -> [LeasedDelivery]

    /// Records an attempt's result, made at `now`, and its audit events if `lease.leaseToken`
    /// still holds the job.
    /// - Returns: false when the lease was lost, in which case nothing is written.
    @discardableResult
    func finish(_ lease: LeasedDelivery, result: AttemptResult, audit: [AuditEntry], now: Date) async throws -> Bool

    /// When the earliest pending job is due (its lease, if any, expired), or nil when none is pending.
    func nextDueDate() async throws -> Date?
}

/// The append-only, hash-chained audit log.
public protocol AuditLog: Sendable {
    /// Appends events that belong to no other write (an authentication failure, a start-up).
    func appendAudit(_ entries: [AuditEntry]) async throws

    /// Audit events in sequence order, `limit` at a time from `afterSequence`.
    func auditEvents(afterSequence: Int64, limit: Int) async throws -> [AuditEvent]
}

/// The routing rules' versions as they went live.
public protocol RulesVersionStore: Sendable {
    /// Stores a rules version with its audit events, if the newest stored version is still
    /// `expectedLatest` (nil: none stored yet).
    /// - Returns: false when another version was stored first, in which case nothing is written.
    func recordRules(_ record: RulesVersionRecord, expectedLatest: Int?, audit: [AuditEntry]) async throws -> Bool

    /// The newest stored rules version, with its text.
    func latestRules() async throws -> RulesVersionRecord?

    /// Stored rules versions, newest first, without their texts.
    func rulesHistory(limit: Int) async throws -> [RulesVersionRecord]

    /// One stored rules version, with its text.
    func rules(number: Int) async throws -> RulesVersionRecord?
}

/// A store that does every job: what a gateway runs on. SQLite and the in-memory twin are both
/// one, and the shared store contract tests hold them to the same behaviour.
public typealias SwitchboardStore = ReferralStore & DeliveryQueue & AuditLog & RulesVersionStore

extension AuditLog {
    /// Checks the whole audit chain, reading it a page at a time, in constant memory.
    public func verifyAudit(pageSize: Int = 5_000) async throws -> AuditChain.Verdict {
        var verifier = AuditChain.Verifier()
        var after: Int64 = 0
        while true {
            let page = try await auditEvents(afterSequence: after, limit: pageSize)
            for event in page {
                if let broken = verifier.check(event) { return broken }
            }
            guard let last = page.last, page.count == pageSize else { return verifier.verdict }
            after = last.sequence
        }
    }
}
