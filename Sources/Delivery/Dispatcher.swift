import AdapterKit
import Audit
import Foundation
import Logging
import ReferralModel
import ServiceLifecycle
import Storage
import Synchronization
import Transport

/// One agency as the dispatcher needs it: where to send, how to render, how to sign.
public struct DeliveryTarget: Sendable {
    public var agency: Agency
    public var adapter: any AgencyAdapter
    public var signer: WebhookSigner?

    public init(agency: Agency, adapter: any AgencyAdapter, signer: WebhookSigner?) {
        self.agency = agency
        self.adapter = adapter
        self.signer = signer
    }
}

/// Delivers due jobs: leases them from the store, renders each through its agency's adapter, signs
/// and sends it over libcurl, and records the outcome with its audit events. Runs as a service
/// until graceful shutdown, finishing the attempts already in flight.
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

    private let store: any ReferralStore
    private let targets: [String: DeliveryTarget]
    private let client: HTTPClient
    private let configuration: Configuration
    private let logger: Logger
    private let doorbell = Doorbell()
    private let inFlight = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)

    public init(
        store: any ReferralStore, targets: [DeliveryTarget], client: HTTPClient, configuration: Configuration = .init(),
        logger: Logger
    ) {
        self.store = store
        self.targets = Dictionary(targets.map { ($0.agency.id, $0) }, uniquingKeysWith: { first, _ in first })
        self.client = client
        self.configuration = configuration
        self.logger = logger
    }

    /// Tells the dispatcher new work may be due, so it need not wait for its next poll.
    public func wake() { doorbell.ring() }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                while !stopping.load(ordering: .relaxed) && !Task.isCancelled {
                    let capacity = configuration.concurrency - inFlight.load(ordering: .relaxed)
                    var leased: [LeasedDelivery] = []
                    if capacity > 0 {
                        do {
                            leased = try await store.leaseDueDeliveries(
                                now: Date(), limit: capacity, leaseDuration: configuration.leaseDuration)
                        } catch {
                            logger.error("Could not lease deliveries", metadata: ["error": "\(error)"])
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
                    var pause = configuration.idlePoll
                    if let due = try? await store.nextDueDate() {
                        pause = min(pause, max(0.005, due.timeIntervalSinceNow))
                    }
                    await doorbell.wait(upTo: pause)
                }
            }
        } onGracefulShutdown: {
            self.stopping.store(true, ordering: .relaxed)
            self.doorbell.ring()
        }
    }

    /// Makes one attempt and records its result.
    func deliver(_ job: LeasedDelivery) async {
        let target = targets[job.agency]
        let withheld = target?.agency.withhold ?? []
        let context = DeliveryContext(
            deliveryId: job.deliveryId, referralId: job.referralId, agencyId: job.agency, rule: job.rule, receivedAt: job.receivedAt,
            withheld: withheld)
        let policy = target?.agency.retry ?? RetryPolicy()
        // What this agency is sent: the adapter's fields, less those withheld, that the referral has.
        let sent = (target?.adapter.mappedFields ?? []).subtracting(withheld).filter { $0.isPresent(in: job.referral) }
        let fieldsText = "; fields sent: " + sent.sorted().map(\.path).joined(separator: ", ")
        let started = ContinuousClock.now
        let outcome = await attempt(job, context: context)
        let elapsed = started.duration(to: .now)
        let milliseconds = Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
        let now = Date()
        var audit: [AuditEntry] = []
        let result: AttemptResult
        let attemptText = "attempt \(job.attempt) of \(policy.maxAttempts)"
        func attempted(_ detail: String) -> AuditEntry { entry(job, .deliveryAttempted, attemptText + ": " + detail + fieldsText) }
        switch outcome {
        case .delivered(let reference):
            result = .delivered(agencyReference: reference)
            audit.append(attempted("delivered in \(milliseconds) ms"))
            audit.append(entry(job, .deliveryDelivered, reference.map { "agency reference recorded (\($0.count) characters)" } ?? "delivered"))
        case .retryable(let reason, let retryAfter) where job.attempt < policy.maxAttempts:
            let delay = max(policy.backoff(afterAttempt: job.attempt), min(retryAfter ?? 0, policy.maxBackoff))
            let next = now.addingTimeInterval(delay)
            result = .retry(at: next, error: reason)
            audit.append(attempted("\(reason) after \(milliseconds) ms; next attempt at \(Timestamp.string(next))"))
        case .retryable(let reason, _):
            let final = "\(reason); gave up after \(job.attempt) attempts"
            result = .deadLetter(error: final)
            audit.append(attempted("\(reason) after \(milliseconds) ms"))
            audit.append(entry(job, .deliveryDeadLettered, final))
        case .permanent(let reason):
            result = .deadLetter(error: reason)
            audit.append(attempted("\(reason) after \(milliseconds) ms"))
            audit.append(entry(job, .deliveryDeadLettered, reason))
        }
        do {
            let held = try await store.finish(job, result: result, audit: audit)
            var metadata: Logger.Metadata = [
                "referral": "\(job.referralId)", "delivery": "\(job.deliveryId)", "agency": "\(job.agency)",
                "attempt": "\(job.attempt)", "latency_ms": "\(milliseconds)",
            ]
            switch result {
            case .delivered: metadata["outcome"] = "delivered"
            case .retry(let at, let error): metadata["outcome"] = "retry"; metadata["error"] = "\(error)"; metadata["next"] = "\(Timestamp.string(at))"
            case .deadLetter(let error): metadata["outcome"] = "dead-lettered"; metadata["error"] = "\(error)"
            }
            if !held { metadata["lease"] = "lost; another worker owns the job" }
            logger.info("Delivery attempt", metadata: metadata)
        } catch {
            // The lease expires and the job runs again: at-least-once.
            logger.error("Could not record a delivery attempt", metadata: ["delivery": "\(job.deliveryId)", "error": "\(error)"])
        }
    }

    private func attempt(_ job: LeasedDelivery, context: DeliveryContext) async -> DeliveryOutcome {
        guard let target = targets[job.agency] else {
            return .retryable(reason: "agency \(job.agency) is not in the configuration", retryAfter: nil)
        }
        let rendered: OutboundRequest
        do {
            rendered = try target.adapter.render(job.referral.withholding(context.withheld), context: context)
        } catch {
            return .permanent(reason: "the \(type(of: target.adapter).name) adapter could not render the referral: \(error)")
        }
        var headers: [(name: String, value: String)] = [
            ("Content-Type", rendered.contentType), ("User-Agent", "Switchboard/1"),
        ]
        headers += rendered.headers.map { ($0.name, $0.value) }
        if let signer = target.signer {
            headers += signer.headers(id: job.deliveryId, timestamp: Int(Date().timeIntervalSince1970), body: rendered.body)
        } else {
            headers.append(("webhook-id", job.deliveryId))
        }
        let request = HTTPRequest(
            url: target.agency.endpoint + rendered.path, method: rendered.method, headers: headers, body: rendered.body,
            connectTimeout: target.agency.connectTimeout, totalTimeout: target.agency.requestTimeout)
        do {
            let response = try await client.send(request)
            let reply = AgencyReply(
                status: response.status, headers: response.headers.map { .init($0.name, $0.value) }, body: response.body)
            return target.adapter.interpret(reply, context: context)
        } catch {
            return .retryable(reason: "transport: \(error.message)", retryAfter: nil)
        }
    }

    private func entry(_ job: LeasedDelivery, _ kind: AuditKind, _ detail: String) -> AuditEntry {
        AuditEntry(
            at: Timestamp.string(Date()), kind: kind, actor: "dispatcher", referralId: job.referralId, deliveryId: job.deliveryId,
            agency: job.agency, detail: detail)
    }
}
