import Audit
import Delivery
import Foundation
import ReferralModel
import Storage

/// What the operator commands need from the running dispatcher: its lanes, and pausing and
/// resuming one. The dispatcher is one; tests may script another.
public protocol LaneControl: Sendable {
    /// Each configured agency's lane state now.
    var lanes: [AgencyLaneState] { get }
    /// Each configured agency's own concurrency, by agency id.
    var laneConcurrency: [AgencyID: Int] { get }
    func pause(agency: AgencyID, reason: String?, by actor: String) async throws -> AgencyLaneState?
    func resume(agency: AgencyID, by actor: String) async throws -> AgencyLaneState?
    /// Sends the agency a signed test delivery with no personal data; nil for an unknown agency.
    func ping(agency: AgencyID) async -> PingResult?
    /// New work may be due.
    func wake()
}

/// The operators' queue commands, for the admin API and the command line alike: each agency's
/// queue, dead letters and replaying them, pausing and resuming an agency. Every change is audited
/// with who made it.
public struct QueueOperations: Sendable {
    let queue: any DeliveryQueue
    let audit: any AuditLog
    let lanes: any LaneControl
    let clock: any WallClock

    public init(queue: any DeliveryQueue, audit: any AuditLog, lanes: any LaneControl, clock: any WallClock) {
        self.queue = queue
        self.audit = audit
        self.lanes = lanes
        self.clock = clock
    }

    /// Every configured agency's queue, and any agency no longer configured that still has jobs.
    public func overview() async throws -> QueueOverview {
        let now = clock.now()
        let counts = Dictionary(try await queue.queueCounts(now: now).map { ($0.agency, $0) }, uniquingKeysWith: { first, _ in first })
        let states = Dictionary(lanes.lanes.map { ($0.agency, $0) }, uniquingKeysWith: { first, _ in first })
        let concurrency = lanes.laneConcurrency
        let agencies = Set(counts.keys).union(states.keys).sorted()
        return QueueOverview(
            at: Timestamp.string(now),
            agencies: agencies.map { agency in
                AgencyQueue(
                    agency: agency, counts: counts[agency] ?? LaneCounts(agency: agency), state: states[agency],
                    concurrency: concurrency[agency], now: now)
            })
    }

    /// Dead letters, newest first, with what each agency last answered: reading the replies is
    /// audited with who read how many (an agency's reply may quote the person). Without
    /// `withReplies` (operations staff) the replies are left out, and there is nothing to audit.
    public func deadLetters(agency: AgencyID?, limit: Int, by actor: String, withReplies: Bool = true) async throws -> DeadLetterList {
        var letters = try await queue.deadLetters(agency: agency, limit: limit)
        if withReplies, !letters.isEmpty {
            try await audit.appendAudit([AuditNarrative.deadLettersRead(at: clock.now(), by: actor, agency: agency, count: letters.count)])
        }
        if !withReplies { for index in letters.indices { letters[index].agencyReply = nil } }
        return DeadLetterList(deadLetters: letters.map(DeadLetterDocument.init))
    }

    /// How many referrals each agency has been sent today (since midnight, Europe/London): what the
    /// overview sets against each agency's declared capacity.
    public func referralsToday() async throws -> [AgencyID: Int] {
        let now = clock.now()
        return try await queue.referralsRouted(since: Retention.london.startOfDay(for: now))
    }

    /// Puts dead letters back in the queue, each once, audited with who asked.
    public func retry(_ selection: DeadLetterSelection, by actor: String) async throws -> RequeueResult {
        let now = clock.now()
        let requeued = try await queue.requeue(selection, now: now) { letter in
            AuditNarrative.deliveryRequeued(
                .init(referralId: letter.referralId, deliveryId: letter.deliveryId, agency: letter.agency), at: now, by: actor,
                attempts: letter.attempts)
        }
        if !requeued.isEmpty { lanes.wake() }
        return RequeueResult(requeued: requeued.map(\.deliveryId))
    }

    /// - Returns: the agency's queue after the change, or nil for an agency not in the configuration.
    public func pause(agency: AgencyID, reason: String?, by actor: String) async throws -> AgencyQueue? {
        guard try await lanes.pause(agency: agency, reason: reason, by: actor) != nil else { return nil }
        return try await overview().agencies.first { $0.agency == agency }
    }

    /// A test delivery to bring a new or changed endpoint on board; audited with who asked and what came back.
    public func ping(agency: AgencyID, by actor: String) async throws -> PingResult? {
        guard let result = await lanes.ping(agency: agency) else { return nil }
        try await audit.appendAudit([
            AuditNarrative.agencyPinged(
                agency: agency, at: clock.now(), by: actor, outcome: result.outcome, status: result.status, milliseconds: result.milliseconds)
        ])
        return result
    }

    public func resume(agency: AgencyID, by actor: String) async throws -> AgencyQueue? {
        guard try await lanes.resume(agency: agency, by: actor) != nil else { return nil }
        return try await overview().agencies.first { $0.agency == agency }
    }
}

/// `GET /v1/queue`: every agency's queue.
public struct QueueOverview: Codable, Sendable, Equatable {
    public var at: String
    public var agencies: [AgencyQueue]
}

/// One agency's queue, lane and circuit, as an operator reads them.
public struct AgencyQueue: Codable, Sendable, Equatable {
    public struct Stop: Codable, Sendable, Equatable {
        public var reason: String
        public var by: String
        public var at: String
    }

    /// Whether an agency's deliveries flow.
    public enum Status: String, Codable, Sendable, CaseIterable {
        case running
        /// By an operator, for a planned outage.
        case paused
        /// By the dispatcher, after 410 Gone or days of failure.
        case disabled
        /// No longer in agencies.yaml: its jobs wait until it is configured again.
        case notConfigured = "not-configured"
    }

    public var agency: AgencyID
    /// False for an agency no longer in agencies.yaml whose jobs wait until it is configured again.
    public var configured: Bool
    public var status: Status
    /// `closed`, `open` or `half-open`.
    public var circuit: AgencyLaneState.Circuit
    /// While the circuit is open: when a delivery will probe the agency.
    public var probeAt: String?
    public var concurrency: Int?
    public var pending: Int
    public var due: Int
    public var inFlight: Int
    public var scheduled: Int
    public var deadLettered: Int
    /// Seconds since the referral behind the oldest pending job was received.
    public var oldestPendingSeconds: Int?
    public var paused: Stop?
    public var disabled: Stop?

    init(agency: AgencyID, counts: LaneCounts, state: AgencyLaneState?, concurrency: Int?, now: Date) {
        self.agency = agency
        configured = state != nil
        let stop = { (stop: AgencyLaneState.Stop?) in stop.map { Stop(reason: $0.reason, by: $0.by, at: Timestamp.string($0.at)) } }
        paused = stop(state?.paused)
        disabled = stop(state?.disabled)
        status = state == nil ? .notConfigured : paused != nil ? .paused : disabled != nil ? .disabled : .running
        circuit = state?.circuit ?? .closed
        probeAt = state?.circuit == .open ? state?.reopensAt.map(Timestamp.string) : nil
        self.concurrency = concurrency
        pending = counts.pending
        due = counts.due
        inFlight = counts.inFlight
        scheduled = counts.scheduled
        deadLettered = counts.deadLettered
        oldestPendingSeconds = counts.oldestPendingSince.map { max(0, Int(now.timeIntervalSince($0))) }
    }
}

/// `GET /v1/queue/dead`: dead-lettered deliveries, newest first.
public struct DeadLetterList: Codable, Sendable, Equatable {
    public var deadLetters: [DeadLetterDocument]
}

public struct DeadLetterDocument: Codable, Sendable, Equatable {
    public var deliveryId: DeliveryID
    public var referralId: ReferralID
    public var agency: AgencyID
    public var rule: String
    public var attempts: Int
    public var reason: String
    public var deadLetteredAt: String?
    /// What the agency's system last answered, bounded; for administrators only.
    public var agencyReply: String?

    init(_ letter: DeadLetter) {
        deliveryId = letter.deliveryId
        referralId = letter.referralId
        agency = letter.agency
        rule = letter.rule
        attempts = letter.attempts
        reason = letter.reason
        deadLetteredAt = letter.deadLetteredAt.map(Timestamp.string)
        agencyReply = letter.agencyReply
    }
}

/// `POST /v1/queue/retry`: the deliveries put back in the queue.
public struct RequeueResult: Codable, Sendable, Equatable {
    public var requeued: [DeliveryID]
}
