import Audit
import Foundation
import ReferralModel
import Storage

/// When an agency's circuit opens, how long it rests, and when failing for too long disables it.
public struct CircuitPolicy: Sendable, Equatable {
    /// Failed attempts in a row (no answer, a timeout, 408 or 5xx) that open the circuit.
    public var failuresToOpen: Int
    /// The first rest before a probe; each reopening doubles it, up to `maximumCoolDown`.
    public var coolDown: TimeInterval
    public var maximumCoolDown: TimeInterval
    /// An agency that has failed every attempt for this long is disabled until an operator
    /// resumes it (Svix uses five days).
    public var disableAfter: TimeInterval
    /// The circuit also opens when at least this share of the last `window` attempts failed, so an
    /// agency failing every other request does not escape by the odd success.
    public var failureRate: Double
    public var window: Int

    public init(
        failuresToOpen: Int = 5, coolDown: TimeInterval = 30, maximumCoolDown: TimeInterval = 600, disableAfter: TimeInterval = 5 * 86_400,
        failureRate: Double = 0.5, window: Int = 20
    ) {
        self.failureRate = failureRate
        self.window = window
        self.failuresToOpen = failuresToOpen
        self.coolDown = coolDown
        self.maximumCoolDown = maximumCoolDown
        self.disableAfter = disableAfter
    }

    /// The rest after the circuit's `openings`th opening in a row.
    func coolDown(openings: Int) -> TimeInterval {
        min(maximumCoolDown, coolDown * Double(1 << min(max(openings - 1, 0), 20)))
    }
}

/// What an attempt says about the agency's health, as the breaker counts it.
enum Health: Sendable, Equatable {
    /// The agency took the referral.
    case healthy
    /// No answer, a timeout, 408 or 5xx: counts toward opening the circuit.
    case failing(reason: String)
    /// The agency answered and refused this one request (4xx, 429): it is up, so nothing changes.
    case answered
    /// 410 Gone: the endpoint is no more; the agency is disabled until an operator resumes it.
    case gone
}

/// A change to one agency's lane that must be stored, audited and logged.
struct LaneChange: Sendable {
    var state: AgencyLaneState
    var audit: [AuditEntry]
    var message: String
}

/// The dispatcher's lanes: one per agency, each with its own concurrency, circuit and stops. It
/// decides whose jobs to lease next (in turns, so every agency is served) and what each attempt's
/// health does to its circuit. Pure bookkeeping: the dispatcher stores and logs the changes.
struct LaneBook: Sendable {
    struct Lane: Sendable {
        var concurrency: Int
        var leaseDuration: TimeInterval
        var policy: CircuitPolicy
        var state: AgencyLaneState
        var inFlight = 0
        var failuresInARow = 0
        /// The last attempts' health, true for a failure, newest last, at most `policy.window`.
        var recent: [Bool] = []

        mutating func remember(failed: Bool) {
            recent.append(failed)
            if recent.count > policy.window { recent.removeFirst(recent.count - policy.window) }
        }

        /// True when the window is full and its share of failures reaches the policy's rate.
        var failingTooOften: Bool {
            recent.count >= policy.window && Double(recent.filter { $0 }.count) >= policy.failureRate * Double(recent.count)
        }

        /// Attempts this lane may start now.
        func free(now: Date) -> Int {
            guard state.paused == nil, state.disabled == nil else { return 0 }
            switch state.circuit {
            case .closed: return max(0, concurrency - inFlight)
            case .halfOpen: return inFlight == 0 ? 1 : 0
            case .open: return 0
            }
        }
    }

    private(set) var lanes: [AgencyID: Lane] = [:]
    private var order: [AgencyID]
    private var turn = 0
    /// Attempts the agency has answered whose results are not committed yet. Their slots are free
    /// (the agency is done with them), so the next attempts overlap the commit; this bounds how far.
    private(set) var recording = 0
    /// Each lane's state as last read from or written to the store: a stored state that differs
    /// from it was written by another gateway, and is adopted.
    private var known: [AgencyID: AgencyLaneState] = [:]

    init(targets: [DeliveryTarget], stored: [AgencyLaneState]) {
        let stored = Dictionary(stored.map { ($0.agency, $0) }, uniquingKeysWith: { _, last in last })
        known = stored
        for target in targets {
            lanes[target.agencyId] = Lane(
                concurrency: target.concurrency, leaseDuration: target.leaseDuration, policy: target.circuit,
                state: stored[target.agencyId] ?? AgencyLaneState(agency: target.agencyId))
        }
        order = targets.map(\.agencyId)
    }

    /// Takes a changed list of agencies: a new agency gets a lane, a changed one its new limits
    /// (keeping its state and the attempts it has in flight), and one no longer listed gets no more
    /// turns; its lane stays until its attempts in flight are finished.
    mutating func reconfigure(targets: [DeliveryTarget], stored: [AgencyLaneState]) {
        let stored = Dictionary(stored.map { ($0.agency, $0) }, uniquingKeysWith: { _, last in last })
        for target in targets {
            var lane =
                lanes[target.agencyId]
                ?? Lane(
                    concurrency: target.concurrency, leaseDuration: target.leaseDuration, policy: target.circuit,
                    state: stored[target.agencyId] ?? AgencyLaneState(agency: target.agencyId))
            lane.concurrency = target.concurrency
            lane.leaseDuration = target.leaseDuration
            lane.policy = target.circuit
            lanes[target.agencyId] = lane
        }
        order = targets.map(\.agencyId)
        let listed = Set(order)
        for (agency, lane) in lanes where !listed.contains(agency) && lane.inFlight == 0 { lanes[agency] = nil }
    }

    /// Notes a state this gateway stored, so reading it back is not taken for another's change.
    mutating func stored(_ state: AgencyLaneState) { known[state.agency] = state }

    /// Adopts the lane states other gateways stored since this one last looked (paused, resumed,
    /// disabled, a circuit opened or closed), keeping the attempts this gateway has in flight.
    /// - Returns: whether any lane changed.
    mutating func adopt(stored: [AgencyLaneState]) -> Bool {
        var changed = false
        for state in stored where known[state.agency] != state {
            known[state.agency] = state
            guard var lane = lanes[state.agency], lane.state != state else { continue }
            if state.circuit == .closed && lane.state.circuit != .closed { lane.failuresInARow = 0 }
            lane.state = state
            lanes[state.agency] = lane
            changed = true
        }
        return changed
    }

    /// What to lease with `globalFree` slots left under the global cap: slots handed out one at a
    /// time in turns, starting from a different agency each time. An open circuit whose rest is
    /// over goes half-open here, and that change is returned to be stored.
    mutating func demands(now: Date, globalFree: Int) -> (demands: [LaneDemand], changes: [LaneChange]) {
        var changes: [LaneChange] = []
        for agency in order {
            guard var lane = lanes[agency], lane.state.circuit == .open, (lane.state.reopensAt ?? .distantFuture) <= now else { continue }
            lane.state.circuit = .halfOpen
            lane.state.reopensAt = nil
            lanes[agency] = lane
            changes.append(
                LaneChange(
                    state: lane.state, audit: [AuditNarrative.circuitHalfOpen(agency: agency, at: now)],
                    message: "Circuit half-open: one delivery will probe the agency"))
        }
        var free = Dictionary(uniqueKeysWithValues: order.map { ($0, lanes[$0]?.free(now: now) ?? 0) })
        var granted: [AgencyID: Int] = [:]
        var remaining = globalFree
        var progress = true
        while remaining > 0 && progress {
            progress = false
            for index in order.indices {
                let agency = order[(turn + index) % order.count]
                guard remaining > 0, free[agency, default: 0] > 0 else { continue }
                free[agency, default: 0] -= 1
                granted[agency, default: 0] += 1
                remaining -= 1
                progress = true
            }
        }
        if !order.isEmpty { turn = (turn + 1) % order.count }
        let demands = order.compactMap { agency -> LaneDemand? in
            guard let count = granted[agency], let lane = lanes[agency] else { return nil }
            return LaneDemand(agency: agency, limit: count, leaseDuration: lane.leaseDuration)
        }
        return (demands, changes)
    }

    /// The agencies that may start an attempt now or once a job falls due.
    func servable(now: Date) -> [AgencyID] {
        order.filter { lanes[$0]?.free(now: now) ?? 0 > 0 }
    }

    /// When the earliest open circuit may probe.
    var nextReopening: Date? {
        lanes.values.compactMap { $0.state.circuit == .open ? $0.state.reopensAt : nil }.min()
    }

    var totalInFlight: Int { lanes.values.reduce(0) { $0 + $1.inFlight } }

    /// Slots free under the global cap of `concurrency` attempts in flight, with no more than as
    /// many again answered and waiting to be committed.
    func globalFree(concurrency: Int) -> Int {
        let inFlight = totalInFlight
        return max(0, min(concurrency - inFlight, 2 * concurrency - inFlight - recording))
    }

    mutating func beganRecording() { recording += 1 }
    mutating func endedRecording() { recording = max(0, recording - 1) }

    mutating func started(agency: AgencyID) {
        lanes[agency]?.inFlight += 1
    }

    /// Counts one finished attempt against its agency's circuit.
    /// - Returns: the change to store, if the lane's stored state changed.
    mutating func finished(agency: AgencyID, health: Health, now: Date) -> LaneChange? {
        guard var lane = lanes[agency] else { return nil }
        lane.inFlight = max(0, lane.inFlight - 1)
        defer { lanes[agency] = lane }
        let before = lane.state
        var audit: [AuditEntry] = []
        var message = ""
        switch health {
        case .healthy, .answered:
            lane.remember(failed: false)
            lane.failuresInARow = 0
            lane.state.failingSince = nil
            if lane.state.circuit != .closed {
                lane.recent = []
                lane.state.circuit = .closed
                lane.state.reopensAt = nil
                lane.state.openings = 0
                audit.append(AuditNarrative.circuitClosed(agency: agency, at: now))
                message = "Circuit closed: the agency answered again"
            }
        case .gone:
            lane.state.disabled = .init(reason: "the agency answered 410 Gone: its endpoint no longer exists", by: "dispatcher", at: now)
            audit.append(AuditNarrative.agencyDisabled(agency: agency, at: now, reason: "HTTP 410 Gone"))
            message = "Agency disabled: its endpoint answered 410 Gone; its jobs wait until an operator resumes it"
        case .failing(let reason):
            lane.remember(failed: true)
            lane.failuresInARow += 1
            let since = lane.state.failingSince ?? now
            lane.state.failingSince = since
            if now.timeIntervalSince(since) >= lane.policy.disableAfter, lane.state.disabled == nil {
                let days = Int(lane.policy.disableAfter / 86_400)
                lane.state.disabled = .init(reason: "every attempt has failed since \(Timestamp.string(since))", by: "dispatcher", at: now)
                audit.append(AuditNarrative.agencyDisabled(agency: agency, at: now, reason: "every attempt failed for \(days) days or more"))
                message = "Agency disabled: every attempt has failed for too long; its jobs wait until an operator resumes it"
            } else if lane.state.circuit == .halfOpen
                || (lane.state.circuit == .closed && (lane.failuresInARow >= lane.policy.failuresToOpen || lane.failingTooOften))
            {
                let why =
                    lane.state.circuit == .halfOpen
                    ? "the probe failed"
                    : lane.failuresInARow >= lane.policy.failuresToOpen
                        ? "\(lane.failuresInARow) failed attempts in a row"
                        : "\(lane.recent.filter { $0 }.count) of the last \(lane.recent.count) attempts failed"
                lane.state.openings += 1
                let rest = lane.policy.coolDown(openings: lane.state.openings)
                lane.state.circuit = .open
                lane.state.reopensAt = now.addingTimeInterval(rest)
                audit.append(AuditNarrative.circuitOpened(agency: agency, at: now, why: why, reason: reason, until: now.addingTimeInterval(rest)))
                message = "Circuit open: \(why), the last \(reason); next probe in \(Int(rest)) s"
            }
        }
        guard lane.state != before else { return nil }
        return LaneChange(state: lane.state, audit: audit, message: message)
    }

    /// An operator pauses or resumes an agency; resuming also re-enables a disabled one and closes its circuit.
    mutating func setPaused(agency: AgencyID, stop: AgencyLaneState.Stop?) -> AgencyLaneState? {
        guard var lane = lanes[agency] else { return nil }
        lane.state.paused = stop
        if stop == nil {
            lane.state.disabled = nil
            lane.state.circuit = .closed
            lane.state.reopensAt = nil
            lane.state.openings = 0
            lane.state.failingSince = nil
            lane.failuresInARow = 0
            lane.recent = []
        }
        lanes[agency] = lane
        return lane.state
    }
}
