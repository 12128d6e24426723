import Delivery
import Foundation
import HTTPTypes
import Hummingbird
import Observability
import Storage
import Synchronization
import UseCases

/// `GET /readyz`: whether this gateway should be sent work. 200 when the store takes a write, the
/// configuration is loaded and the dispatcher is running; otherwise 503 with `Retry-After`, which
/// tells a load balancer to send requests elsewhere until it passes. `/healthz` says only that the
/// process answers.
final class HealthRoutes: Sendable {
    struct Readiness: Codable, Sendable {
        var status: String
        var store: String
        var dispatcher: String
        var rulesVersion: String
    }

    let store: any StoreHealth
    let dispatcher: Dispatcher
    let rules: RulesAdministrator
    let queue: QueueOperations
    let loop: ReferralLoop
    let metrics: GatewayMetrics
    /// A probe writes; answers within a second of each other share one.
    private let recent = Mutex<(at: ContinuousClock.Instant, store: String?)?>(nil)

    init(
        store: any StoreHealth, dispatcher: Dispatcher, rules: RulesAdministrator, queue: QueueOperations, loop: ReferralLoop, metrics: GatewayMetrics
    ) {
        self.queue = queue
        self.loop = loop
        self.metrics = metrics
        self.store = store
        self.dispatcher = dispatcher
        self.rules = rules
    }

    func ready(_ request: Request, context: GatewayContext) async throws -> Response {
        let problem = await storeProblem()
        let running = dispatcher.isRunning
        let readiness = Readiness(
            status: problem == nil && running ? "ready" : "not-ready", store: problem ?? "writable",
            dispatcher: running ? "running" : "stopped", rulesVersion: rules.live.current.rules.version)
        var response = try JSONResponse.make(readiness, status: readiness.status == "ready" ? .ok : .serviceUnavailable)
        if readiness.status != "ready" { response.headers[.retryAfter] = "5" }
        response.headers[.cacheControl] = "no-store"
        return response
    }

    /// `GET /metrics`: the counters, and the queues and rules as of now, in Prometheus text format.
    func metrics(_ request: Request, context: GatewayContext) async throws -> Response {
        let overview = try await queue.overview()
        metrics.observe(
            queues: overview.agencies.map { agency in
                GatewayMetrics.Queue(
                    agency: agency.agency, pending: agency.pending, inFlight: agency.inFlight, deadLettered: agency.deadLettered,
                    oldestPendingSeconds: Double(agency.oldestPendingSeconds ?? 0),
                    circuit: agency.circuit == "open" ? 2 : agency.circuit == "half-open" ? 1 : 0, paused: agency.paused != nil)
            }, rulesVersion: rules.live.current.rules.version)
        metrics.observe(attention: try await loop.attentionSummary().map { ($0.urgency.rawValue, $0.open, $0.overdue) })
        if let shared = store as? any SharedAuditChain {
            let figures = shared.auditChainLock
            metrics.observe(auditChainLock: figures.appends, waitedSeconds: figures.waitedSeconds, heldSeconds: figures.heldSeconds)
        }
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: metrics.render())))
    }

    /// Nil when a small write commits within two seconds; else what stopped it.
    private func storeProblem() async -> String? {
        let now = ContinuousClock.now
        if let last = recent.withLock({ $0 }), last.at.duration(to: now) < .seconds(1) { return last.store }
        let store = self.store
        let problem = await withTaskGroup(of: String?.self) { group in
            group.addTask {
                do {
                    try await store.checkWritable()
                    return nil
                } catch {
                    return StoreFault.summary(error)
                }
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(2))
                return "a write did not finish within 2 seconds"
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        recent.withLock { $0 = (now, problem) }
        return problem
    }
}
