import AdapterKit
import Audit
import Foundation
import Logging
import ReferralModel
import ServiceLifecycle
import Storage
import Synchronization
import Transport

/// Delivers due jobs: leases them from the queue, renders each through its agency's adapter, signs
/// and sends it through the transport, and records the outcome with its audit events. Runs as a
/// service until graceful shutdown, finishing the attempts already in flight.
public final class Dispatcher: Service {
    public struct Configuration: Sendable {
        /// Attempts in flight at once, across all agencies.
        public var concurrency: Int
        /// How long a leased job is a worker's before another may take it.
        public var leaseDuration: TimeInterval
        /// The longest the dispatcher sleeps before looking for due jobs again.
        public var idlePoll: TimeInterval

        public init(concurrency: Int = 16, leaseDuration: TimeInterval = 120, idlePoll: TimeInterval = 1) {
            self.concurrency = concurrency
            self.leaseDuration = leaseDuration
            self.idlePoll = idlePoll
        }
    }

    let queue: any DeliveryQueue
    let targets: [String: DeliveryTarget]
    let transport: any HTTPTransport
    let clock: any WallClock
    let configuration: Configuration
    let logger: Logger
    private let doorbell = Doorbell()
    private let inFlight = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)

    public init(
        queue: any DeliveryQueue, targets: [DeliveryTarget], transport: any HTTPTransport, clock: any WallClock = SystemClock(),
        configuration: Configuration = .init(), logger: Logger
    ) {
        self.queue = queue
        self.targets = Dictionary(targets.map { ($0.agencyId, $0) }, uniquingKeysWith: { first, _ in first })
        self.transport = transport
        self.clock = clock
        self.configuration = configuration
        self.logger = logger
    }

    /// Tells the dispatcher new work may be due, so it need not wait for its next poll.
    public func wake() { doorbell.ring() }

    /// Attempts under way now.
    public var attemptsInFlight: Int { inFlight.load(ordering: .relaxed) }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                while !stopping.load(ordering: .relaxed) && !Task.isCancelled {
                    let capacity = configuration.concurrency - inFlight.load(ordering: .relaxed)
                    var leased: [LeasedDelivery] = []
                    if capacity > 0 {
                        do {
                            leased = try await queue.leaseDueDeliveries(
                                now: clock.now(), limit: capacity, leaseDuration: configuration.leaseDuration)
                        } catch {
                            logger.error("Could not lease deliveries", metadata: ["error.type": "\(type(of: error))"])
                        }
                    }
                    for job in leased {
                        inFlight.add(1, ordering: .relaxed)
                        group.addTask {
                            await self.deliver(job)
                            self.inFlight.subtract(1, ordering: .relaxed)
                            self.doorbell.ring()
                        }
                    }
                    if capacity > 0 && leased.count == capacity { continue }
                    let now = clock.now()
                    var wakeAt = now.addingTimeInterval(configuration.idlePoll)
                    if let due = try? await queue.nextDueDate() {
                        wakeAt = min(wakeAt, max(now.addingTimeInterval(0.005), due))
                    }
                    await doorbell.wait(until: wakeAt, clock: clock)
                }
            }
        } onGracefulShutdown: {
            self.stopping.store(true, ordering: .relaxed)
            self.doorbell.ring()
        }
    }
}
