import Audit
import Foundation
import ReferralModel

/// Everything that must become durable together when a referral is accepted: the referral, its
/// routing decision, one delivery job per target agency and the audit events.
public struct IntakeRecord: Sendable {
    public var referralId: String
    public var receivedAt: Date
    /// The API key id of the referrer.
    public var actor: String
    public var referral: Referral
    public var rulesVersion: String
    public var routes: [Route]
    public var audit: [AuditEntry]
    public var idempotency: IdempotencyClaim?
    /// Each route's alternatives (agencies to try, in order, if it declines), by delivery id.
    public var alternatives: [String: [String]]

    public init(
        referralId: String, receivedAt: Date, actor: String, referral: Referral, rulesVersion: String, routes: [Route],
        audit: [AuditEntry], idempotency: IdempotencyClaim?, alternatives: [String: [String]] = [:]
    ) {
        self.alternatives = alternatives
        self.referralId = referralId
        self.receivedAt = receivedAt
        self.actor = actor
        self.referral = referral
        self.rulesVersion = rulesVersion
        self.routes = routes
        self.audit = audit
        self.idempotency = idempotency
    }
}

/// A referrer's `Idempotency-Key` and a digest of the body it came with.
public struct IdempotencyClaim: Sendable, Equatable {
    public var key: String
    public var bodyDigest: String
    public init(key: String, bodyDigest: String) {
        self.key = key
        self.bodyDigest = bodyDigest
    }
}

/// What accepting a referral came to.
public enum IntakeOutcome: Sendable, Equatable {
    /// Stored; this is the receipt.
    case accepted(SubmissionReceipt)
    /// The same key and body were accepted before: the first receipt, nothing new stored.
    case replayed(SubmissionReceipt)
    /// The key was used before with a different body: nothing stored.
    case idempotencyConflict
}

/// A delivery job leased to one worker until `leaseExpiresAt`.
public struct LeasedDelivery: Sendable {
    public var deliveryId: String
    public var referralId: String
    public var agency: String
    public var rule: String
    /// 1 for the first attempt.
    public var attempt: Int
    public var leaseToken: String
    public var referral: Referral
    public var receivedAt: Date
}

/// How one delivery attempt ended, as the dispatcher records it.
public enum AttemptResult: Sendable, Equatable {
    case delivered(agencyReference: String?)
    case retry(at: Date, error: String)
    case deadLetter(error: String)
}

/// One version of the routing rules as it went live: numbered in order, with its text, who
/// applied it, how, and what it changed.
public struct RulesVersionRecord: Sendable, Equatable, Codable {
    /// 1 for the first rules this store saw, then one more for each change.
    public var number: Int
    /// The text's digest, `sha256:…`, which `If-Match` names.
    public var version: String
    public var appliedAt: String
    /// The API key id, or `gateway` for a file loaded at start or on reload.
    public var appliedBy: String
    /// How it came: `start-up`, `api`, `rollback`, `reload` (SIGHUP or the file changing).
    public var source: String
    /// The rule ids added, removed and changed, from the version before.
    public var summary: String
    /// The rules text; nil in listings.
    public var text: String?

    public init(
        number: Int, version: String, appliedAt: String, appliedBy: String, source: String, summary: String, text: String?
    ) {
        self.number = number
        self.version = version
        self.appliedAt = appliedAt
        self.appliedBy = appliedBy
        self.source = source
        self.summary = summary
        self.text = text
    }
}

/// Durable storage for referrals, the delivery queue and the audit log. Each method is one
/// transaction.
public protocol ReferralStore: Sendable {
    /// Stores a referral with its jobs and audit events, atomically, honouring idempotency.
    func accept(_ record: IntakeRecord) async throws -> IntakeOutcome

    /// The referral's deliveries and history, or nil when there is no such referral.
    func report(referralId: String) async throws -> ReferralReport?

    /// Leases up to `limit` due jobs, bumping each one's attempt count. A job whose lease has
    /// expired (its worker died) is due again.
    func leaseDueDeliveries(now: Date, limit: Int, leaseDuration: TimeInterval) async throws -> [LeasedDelivery]

    /// Records an attempt's result and its audit events if `leaseToken` still holds the job.
    /// - Returns: false when the lease was lost, in which case nothing is written.
    @discardableResult
    func finish(_ lease: LeasedDelivery, result: AttemptResult, audit: [AuditEntry]) async throws -> Bool

    /// When the earliest pending job is due, or nil when none is pending.
    func nextDueDate() async throws -> Date?

    /// Appends events that belong to no other write (an authentication failure, a start-up).
    func appendAudit(_ entries: [AuditEntry]) async throws

    /// Audit events in sequence order, `limit` at a time from `afterSequence`.
    func auditEvents(afterSequence: Int64, limit: Int) async throws -> [AuditEvent]

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

extension ReferralStore {
    /// Checks the whole audit chain, reading it page by page.
    public func verifyAudit() async throws -> AuditChain.Verdict {
        var all: [AuditEvent] = []
        var after: Int64 = 0
        while true {
            let page = try await auditEvents(afterSequence: after, limit: 5_000)
            all.append(contentsOf: page)
            guard let last = page.last, page.count == 5_000 else { break }
            after = last.sequence
        }
        return AuditChain.verify(all)
    }
}

/// Where the store lives, from `storage.url` in switchboard.yaml.
public enum StorageLocation: Sendable, Equatable {
    case sqlite(path: String)

    /// Parses `sqlite:PATH` (relative paths are relative to `base`).
    public static func parse(_ url: String, relativeTo base: URL? = nil) -> StorageLocation? {
        guard url.hasPrefix("sqlite:") else { return nil }
        var path = String(url.dropFirst("sqlite:".count))
        if path.hasPrefix("//") { path = String(path.dropFirst(2)) }
        guard !path.isEmpty else { return nil }
        if !path.hasPrefix("/"), let base { path = base.appendingPathComponent(path).path }
        return .sqlite(path: path)
    }
}
