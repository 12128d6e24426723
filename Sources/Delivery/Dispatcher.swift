import AdapterKit
import Audit
import Foundation
import Logging
import ReferralModel
import ServiceLifecycle
import Storage
import Synchronization
import Transport

/// Delivers due jobs. Each agency is a lane with its own concurrency, circuit breaker and stops
/// (paused by an operator, disabled after 410 Gone or days of failure), under a global cap; lanes
/// lease in turns, so a slow, silent or failing agency holds only its own slots. Each job is
/// rendered through its agency's adapter, signed, sent through the transport, and its outcome
/// recorded with its audit events in batches. Runs as a service until graceful shutdown, finishing
/// the attempts already in flight.
public final class Dispatcher: Service {
    public struct Configuration: Sendable {
        /// Attempts in flight at once, across all agencies.
        public var concurrency: Int
        /// The longest the dispatcher sleeps before looking for due jobs again.
        public var idlePoll: TimeInterval
        /// Where several gateways share the queue: how often to read the lane states the others
        /// stored (pauses, resumes, circuits), in seconds; nil where this gateway is the only one.
        public var followLanes: TimeInterval?

        public init(concurrency: Int = 64, idlePoll: TimeInterval = 1, followLanes: TimeInterval? = nil) {
            self.concurrency = concurrency
            self.idlePoll = idlePoll
            self.followLanes = followLanes
        }
    }

    let queue: any DeliveryQueue
    /// The agencies, as configured now: replaced whole when the agencies change.
    let configured: Mutex<Agencies>

    struct Agencies: Sendable {
        var targets: [AgencyID: DeliveryTarget]
        /// The fields each agency may be sent, in order: its adapter's, less those withheld.
        var sendable: [AgencyID: [ReferralField]]

        init(_ targets: [DeliveryTarget]) {
            self.targets = Dictionary(targets.map { ($0.agencyId, $0) }, uniquingKeysWith: { first, _ in first })
            sendable = self.targets.mapValues { $0.adapter.mappedFields.subtracting($0.withheld).sorted() }
        }
    }

    var targets: [AgencyID: DeliveryTarget] { configured.withLock { $0.targets } }
    var sendable: [AgencyID: [ReferralField]] { configured.withLock { $0.sendable } }
    let transport: any HTTPTransport
    let clock: any WallClock
    let configuration: Configuration
    let logger: Logger
    /// Counts each attempt by agency and outcome, and how long it took.
    let metrics: DeliveryMetrics
    let doorbell = Doorbell()
    let stopping = Atomic<Bool>(false)
    private let running = Atomic<Bool>(false)

    /// Whether the delivery loop is running: what `/readyz` reports.
    public var isRunning: Bool { running.load(ordering: .relaxed) }
    let book: Mutex<LaneBook>
    private let restored = Atomic<Bool>(false)
    let recorder: OutcomeRecorder
    let laneChanges: AsyncStream<LaneChange>
    let laneChangeSink: AsyncStream<LaneChange>.Continuation
    /// Set once `deliverDue` is used: lane changes wait in `turnChanges` for the end of its turn.
    private let turnByTurn = Atomic<Bool>(false)
    private let turnChanges = Mutex<[LaneChange]>([])

    public init(
        queue: any DeliveryQueue, targets: [DeliveryTarget], transport: any HTTPTransport, clock: any WallClock = SystemClock(),
        configuration: Configuration = .init(), logger: Logger, metrics: DeliveryMetrics = DeliveryMetrics(factory: nil)
    ) {
        self.metrics = metrics
        self.queue = queue
        configured = Mutex(Agencies(targets))
        self.transport = transport
        self.clock = clock
        self.configuration = configuration
        self.logger = logger
        book = Mutex(LaneBook(targets: targets, stored: []))
        recorder = OutcomeRecorder(queue: queue)
        (laneChanges, laneChangeSink) = AsyncStream.makeStream(of: LaneChange.self)
    }

    /// Tells the dispatcher new work may be due, so it need not wait for its next poll.
    public func wake() { doorbell.ring() }

    /// Attempts under way now.
    public var attemptsInFlight: Int { book.withLock { $0.totalInFlight } }

    /// Each configured agency's lane state as the dispatcher holds it now.
    public var lanes: [AgencyLaneState] {
        book.withLock { book in book.lanes.values.map(\.state).sorted { $0.agency < $1.agency } }
    }

    /// Whether the lanes hold what the store holds: restored at start, and (with several gateways)
    /// followed since. Until then only the store can say which lanes are stopped.
    public var holdsStoredLanes: Bool { restored.load(ordering: .acquiring) }

    /// Each configured agency's own concurrency.
    public var laneConcurrency: [AgencyID: Int] { targets.mapValues(\.concurrency) }

    /// Loads the lane states a previous run stored (paused, disabled, circuits). `run` does this
    /// if it has not been done; the gateway does it before serving, so an operator's first pause
    /// cannot be overwritten by the load.
    public func restoreLanes() async throws {
        guard !restored.load(ordering: .acquiring) else { return }
        let stored = try await queue.laneStates()
        let targets = Array(targets.values).sorted { $0.agencyId < $1.agencyId }
        book.withLock { $0 = LaneBook(targets: targets, stored: stored) }
        restored.store(true, ordering: .releasing)
    }

    /// Delivers to a changed list of agencies from the next lease on: a new agency's jobs start,
    /// a changed agency's next attempt uses its new endpoint, adapter and limits, and a removed
    /// agency's jobs wait, visible in the queue, until it is listed again. Attempts in flight finish
    /// as they started.
    public func reconfigure(targets: [DeliveryTarget]) async throws {
        let stored = try await queue.laneStates()
        configured.withLock { $0 = Agencies(targets) }
        book.withLock { $0.reconfigure(targets: targets, stored: stored) }
        doorbell.ring()
    }

    public func run() async throws {
        running.store(true, ordering: .relaxed)
        defer { running.store(false, ordering: .relaxed) }
        do { try await restoreLanes() } catch {
            logger.error("Could not read the agencies' stored lane states", metadata: ["error.type": "\(type(of: error))"])
        }
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { services in
                services.addTask { await self.storeLaneChanges() }
                if let interval = configuration.followLanes {
                    services.addTask { await self.followLanes(every: interval) }
                }
                await withDiscardingTaskGroup { deliveries in
                    while !stopping.load(ordering: .relaxed) && !Task.isCancelled {
                        if await leaseAndStart(in: &deliveries) { continue }
                        await doorbell.wait(until: await nextWake(), clock: clock)
                    }
                }
                laneChangeSink.finish()
            }
        } onGracefulShutdown: {
            self.stopping.store(true, ordering: .relaxed)
            self.doorbell.ring()
        }
    }

    /// One turn of what `run` does without end, for a caller that moves the clock itself (the
    /// simulation): leases every job due at the clock's now, under the same lanes, limits and
    /// circuits, and makes each attempt in the order leased, one after another, so a replay
    /// makes them in the same order. Returns once each outcome is recorded; lane changes (a
    /// circuit opening) are stored with their audit events before it returns. For a dispatcher
    /// that is not running: once it is used, lane changes wait for the end of its turns.
    /// - Returns: how many attempts were made.
    @discardableResult
    public func deliverDue() async -> Int {
        turnByTurn.store(true, ordering: .relaxed)
        if !holdsStoredLanes { try? await restoreLanes() }
        var attempts = 0
        while true {
            let (leased, _) = await lease()
            for job in leased { await deliver(job) }
            attempts += leased.count
            await storePendingLaneChanges()
            if leased.isEmpty { return attempts }
        }
    }

    /// Leases what the lanes have room for, counting each job as started on its lane.
    /// - Returns: the jobs, and what each lane asked for.
    private func lease() async -> (leased: [LeasedDelivery], demands: [LaneDemand]) {
        let now = clock.now()
        let (demands, changes) = book.withLock { $0.demands(now: now, globalFree: $0.globalFree(concurrency: configuration.concurrency)) }
        for change in changes { announce(change) }
        guard !demands.isEmpty else { return ([], []) }
        let leased: [LeasedDelivery]
        do {
            leased = try await queue.leaseDueDeliveries(now: now, lanes: demands)
        } catch {
            logger.error("Could not lease deliveries", metadata: ["error.type": "\(type(of: error))"])
            return ([], demands)
        }
        book.withLock { book in
            for job in leased { book.started(agency: job.agency) }
        }
        return (leased, demands)
    }

    /// Leases what the lanes have room for and starts each attempt.
    /// - Returns: true when some lane got all it asked for, so more may be due at once.
    private func leaseAndStart(in deliveries: inout DiscardingTaskGroup) async -> Bool {
        let (leased, demands) = await lease()
        guard !leased.isEmpty else { return false }
        for job in leased {
            deliveries.addTask {
                await self.deliver(job)
                self.doorbell.ring()
            }
        }
        let counts = Dictionary(grouping: leased, by: \.agency).mapValues(\.count)
        return demands.contains { counts[$0.agency, default: 0] == $0.limit }
    }

    /// The next time anything may be due: the earliest job of a lane with room, an open circuit's
    /// probe, or the idle poll. With every slot taken the store is not asked: nothing can start
    /// before an attempt ends, and each one that ends rings the doorbell.
    private func nextWake() async -> Date {
        let now = clock.now()
        var wakeAt = now.addingTimeInterval(configuration.idlePoll)
        let (servable, reopening, slots) = book.withLock {
            ($0.servable(now: now), $0.nextReopening, $0.globalFree(concurrency: configuration.concurrency))
        }
        if let reopening { wakeAt = min(wakeAt, reopening) }
        if slots > 0, let due = try? await queue.nextDueDate(agencies: servable) {
            wakeAt = min(wakeAt, max(now.addingTimeInterval(0.005), due))
        }
        return wakeAt
    }

    /// Reads the lane states every gateway on the store wrote, until the dispatcher stops, and
    /// adopts those another gateway changed: an agency paused through one gateway is paused on all.
    private func followLanes(every interval: TimeInterval) async {
        while !stopping.load(ordering: .relaxed) && !Task.isCancelled {
            // In tenths of a second, so a stopping dispatcher is not held up.
            for _ in 0..<max(1, Int(interval * 10)) where !stopping.load(ordering: .relaxed) {
                try? await Task.sleep(for: .milliseconds(100))
            }
            guard let stored = try? await queue.laneStates() else { continue }
            if book.withLock({ $0.adopt(stored: stored) }) { doorbell.ring() }
        }
    }

    /// Stores lane changes one at a time, in order, each with its audit events, and logs them.
    private func storeLaneChanges() async {
        for await change in laneChanges { await store(change) }
    }

    /// Passes a lane change on to be stored: to `run`'s writer, or, turn by turn, to the end of the turn.
    func announce(_ change: LaneChange) {
        if turnByTurn.load(ordering: .relaxed) {
            turnChanges.withLock { $0.append(change) }
        } else {
            laneChangeSink.yield(change)
        }
    }

    /// Stores the lane changes of a turn of `deliverDue`, in order.
    private func storePendingLaneChanges() async {
        for change in turnChanges.withLock({ changes in
            defer { changes = [] }
            return changes
        }) { await store(change) }
    }

    private func store(_ change: LaneChange) async {
        // Store the lane as it is now: a later change may have overtaken this one.
        let current = book.withLock { $0.lanes[change.state.agency]?.state } ?? change.state
        do {
            try await queue.saveLaneState(current, audit: change.audit)
            book.withLock { $0.stored(current) }
        } catch {
            logger.error(
                "Could not store an agency's lane state", metadata: ["agency": "\(current.agency)", "error.type": "\(type(of: error))"])
        }
        logger.notice(
            "\(change.message)",
            metadata: [
                "agency": "\(current.agency)", "circuit": "\(current.circuit.rawValue)", "paused": "\(current.paused != nil)",
                "disabled": "\(current.disabled != nil)",
            ])
    }

    /// An operator pauses deliveries to an agency (a planned outage): its jobs wait without using
    /// attempts until it is resumed.
    /// - Returns: the lane's new state, or nil for an agency not in the configuration.
    public func pause(agency: AgencyID, reason: String?, by actor: String) async throws -> AgencyLaneState? {
        let now = clock.now()
        guard let state = book.withLock({ $0.setPaused(agency: agency, stop: .init(reason: reason ?? "", by: actor, at: now)) }) else {
            return nil
        }
        try await queue.saveLaneState(state, audit: [AuditNarrative.agencyPaused(agency: agency, at: now, by: actor, reason: reason)])
        book.withLock { $0.stored(state) }
        logger.notice("Agency paused by an operator", metadata: ["agency": "\(agency)", "by": "\(actor)"])
        return state
    }

    /// An operator resumes an agency: paused or disabled, its circuit closes and its jobs are due again.
    public func resume(agency: AgencyID, by actor: String) async throws -> AgencyLaneState? {
        let now = clock.now()
        guard let before = book.withLock({ $0.lanes[agency]?.state }), let state = book.withLock({ $0.setPaused(agency: agency, stop: nil) })
        else { return nil }
        let was = before.paused != nil ? "paused" : before.disabled != nil ? "disabled" : "running, circuit \(before.circuit.rawValue)"
        try await queue.saveLaneState(state, audit: [AuditNarrative.agencyResumed(agency: agency, at: now, by: actor, was: was)])
        book.withLock { $0.stored(state) }
        logger.notice("Agency resumed by an operator", metadata: ["agency": "\(agency)", "by": "\(actor)"])
        doorbell.ring()
        return state
    }
}
