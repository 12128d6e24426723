import Audit
import Foundation
import ReferralModel

/// The order jobs are leased in within a lane: by due time less a head start for their urgency,
/// so an emergency overtakes routine work that has waited less than an hour and urgent work that
/// has waited less than three quarters of one. Nothing starves: a job's place only improves while
/// it waits, so a routine job due an hour ago goes before an emergency due now.
public enum LeaseOrder {
    /// Seconds a job of `urgency` is treated as due before it is: emergency 3,600, urgent 900, routine 0.
    public static func headStart(_ urgency: Urgency?) -> Double {
        switch urgency {
        case .emergency: 3_600
        case .urgent: 900
        case .routine, nil: 0
        }
    }
}

/// One agency's share of a lease: up to `limit` of its due jobs, each held for `leaseDuration`.
public struct LaneDemand: Sendable, Equatable {
    public var agency: AgencyID
    public var limit: Int
    /// Longer than the agency's whole exchange may take, so a lease outlives a slow attempt.
    public var leaseDuration: TimeInterval

    public init(agency: AgencyID, limit: Int, leaseDuration: TimeInterval) {
        self.agency = agency
        self.limit = limit
        self.leaseDuration = leaseDuration
    }
}

/// One attempt's result, ready to record: the lease it was made under, how it ended, its audit
/// events and when it ended.
public struct DeliveryCompletion: Sendable {
    public var lease: LeasedDelivery
    public var result: AttemptResult
    public var audit: [AuditEntry]
    public var at: Date
    /// What the agency's system answered to a failed attempt (bounded), kept with the delivery for
    /// administrators and nowhere else; nil after a success.
    public var agencyReply: String?

    public init(lease: LeasedDelivery, result: AttemptResult, audit: [AuditEntry], at: Date, agencyReply: String? = nil) {
        self.lease = lease
        self.result = result
        self.audit = audit
        self.at = at
        self.agencyReply = agencyReply
    }
}

/// What is known about delivering to one agency that must outlive a restart: paused by an
/// operator, disabled after a 410 or days of failure, and its circuit breaker.
public struct AgencyLaneState: Sendable, Equatable, Codable {
    public enum Circuit: String, Sendable, Codable, CaseIterable {
        /// Deliveries flow.
        case closed
        /// Too many failures in a row: nothing is sent until `reopensAt`.
        case open
        /// The cool-down has passed: one delivery probes the agency.
        case halfOpen = "half-open"
    }

    /// Set by an operator for a planned outage, until they resume it.
    public struct Stop: Sendable, Equatable, Codable {
        public var reason: String
        public var by: String
        public var at: Date

        public init(reason: String, by: String, at: Date) {
            self.reason = reason
            self.by = by
            self.at = at
        }
    }

    public var agency: AgencyID
    public var paused: Stop?
    /// Set by the dispatcher (410 Gone, or failing for too long); an operator's resume clears it.
    public var disabled: Stop?
    public var circuit: Circuit
    /// While open: when a probe may go.
    public var reopensAt: Date?
    /// Openings since the circuit last closed; each doubles the cool-down.
    public var openings: Int
    /// The first failure since the last success; nil while the agency is healthy.
    public var failingSince: Date?

    public init(
        agency: AgencyID, paused: Stop? = nil, disabled: Stop? = nil, circuit: Circuit = .closed, reopensAt: Date? = nil, openings: Int = 0,
        failingSince: Date? = nil
    ) {
        self.agency = agency
        self.paused = paused
        self.disabled = disabled
        self.circuit = circuit
        self.reopensAt = reopensAt
        self.openings = openings
        self.failingSince = failingSince
    }
}

/// One agency's queue as an operator sees it.
public struct LaneCounts: Sendable, Equatable {
    public var agency: AgencyID
    /// Jobs not yet delivered or dead-lettered, in flight included.
    public var pending: Int
    /// Pending jobs whose time has come (in flight included).
    public var due: Int
    /// Pending jobs waiting for a later attempt.
    public var scheduled: Int
    /// Pending jobs leased to a worker now.
    public var inFlight: Int
    public var deadLettered: Int
    /// When the longest-waiting referral with a pending job here was received.
    public var oldestPendingSince: Date?

    public init(
        agency: AgencyID, pending: Int = 0, due: Int = 0, scheduled: Int = 0, inFlight: Int = 0, deadLettered: Int = 0,
        oldestPendingSince: Date? = nil
    ) {
        self.agency = agency
        self.pending = pending
        self.due = due
        self.scheduled = scheduled
        self.inFlight = inFlight
        self.deadLettered = deadLettered
        self.oldestPendingSince = oldestPendingSince
    }
}

/// A dead-lettered delivery with the reason it gave up.
public struct DeadLetter: Sendable, Equatable, Codable {
    public var deliveryId: DeliveryID
    public var referralId: ReferralID
    public var agency: AgencyID
    public var rule: String
    public var attempts: Int
    public var reason: String
    public var deadLetteredAt: Date?
    /// What the agency's system last answered, as it was sent (bounded). It may name the person, so
    /// only administrators see it, and it is never logged or audited.
    public var agencyReply: String?

    public init(
        deliveryId: DeliveryID, referralId: ReferralID, agency: AgencyID, rule: String, attempts: Int, reason: String, deadLetteredAt: Date?,
        agencyReply: String? = nil
    ) {
        self.agencyReply = agencyReply
        self.deliveryId = deliveryId
        self.referralId = referralId
        self.agency = agency
        self.rule = rule
        self.attempts = attempts
        self.reason = reason
        self.deadLetteredAt = deadLetteredAt
    }
}

extension DeadLetter {
    /// How an attention item raised by a dead letter is resolved when the dead letter is put back in the queue.
    public static let requeuedResolution = "the dead letter was put back in the queue"

    /// The audit event for that resolution, in the same transaction as the requeue.
    public static func attentionResolved(_ item: String, letter: DeadLetter, at: Date, by actor: String?) -> AuditEntry {
        AuditNarrative.attentionResolved(
            referralId: letter.referralId, item: item, at: at, actor: actor ?? "operator", resolution: requeuedResolution)
    }
}
