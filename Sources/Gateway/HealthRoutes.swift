import Foundation
import HTTPEdge
import HTTPTypes
import Hummingbird
import Observability
import Synchronization
import UseCases

/// `GET /readyz`: whether this gateway should be sent work. 200 when the store takes a write, the
/// configuration is loaded and the dispatcher is running; otherwise 503 with `Retry-After`, which
/// tells a load balancer to send requests elsewhere until it passes. `/healthz` says only that the
/// process answers.
final class HealthRoutes: Sendable {
    let readiness: Readiness
    let rules: RulesAdministrator
    let queue: QueueOperations
    let loop: ReferralLoop
    let metrics: GatewayMetrics

    init(readiness: Readiness, rules: RulesAdministrator, queue: QueueOperations, loop: ReferralLoop, metrics: GatewayMetrics) {
        self.readiness = readiness
        self.queue = queue
        self.loop = loop
        self.metrics = metrics
        self.rules = rules
    }

    func ready(_ request: Request, context: GatewayContext) async throws -> Response {
        let report = await readiness.check()
        var response = try JSONResponse.make(report, status: report.isReady ? .ok : .serviceUnavailable)
        if !report.isReady { response.headers[.retryAfter] = "5" }
        response.headers[.cacheControl] = "no-store"
        return response
    }

    /// `GET /metrics`: the counters, and the queues and rules as of now, in Prometheus text format.
    func metrics(_ request: Request, context: GatewayContext) async throws -> Response {
        let overview = try await queue.overview()
        metrics.observe(
            queues: overview.agencies.map { agency in
                GatewayMetrics.Queue(
                    agency: agency.agency.rawValue, pending: agency.pending, inFlight: agency.inFlight, deadLettered: agency.deadLettered,
                    oldestPendingSeconds: Double(agency.oldestPendingSeconds ?? 0),
                    circuit: agency.circuit == .open ? 2 : agency.circuit == .halfOpen ? 1 : 0, paused: agency.paused != nil)
            }, rulesVersion: rules.live.current.rules.version)
        metrics.observe(attention: try await loop.attentionSummary().map { ($0.urgency.rawValue, $0.open, $0.overdue) })
        if let figures = readiness.auditChainLock {
            metrics.observe(auditChainLock: figures.appends, waitedSeconds: figures.waitedSeconds, heldSeconds: figures.heldSeconds)
        }
        if let backlog = try await readiness.auditBacklog() {
            metrics.observe(auditBacklog: backlog.events, oldestSeconds: backlog.oldestSeconds)
        }
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: metrics.render())))
    }
}

extension HealthRoutes {
    /// `/healthz`, `/readyz` and `/openapi.yaml` for anyone; `/metrics` for administrators.
    func collection(_ guards: APIGuard) -> RouteCollection<GatewayContext> {
        let routes = RouteCollection(context: GatewayContext.self)
        routes.get("healthz") { _, _ in try JSONResponse.make(["status": "ok"], status: .ok) }
        routes.get("readyz") { request, context in try await self.ready(request, context: context) }
        routes.get("openapi.yaml") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: ByteBuffer(bytes: Contract.openAPIDocument)))
        }
        guards.group(routes, [.admin, .operations]).get("metrics") { request, context in try await self.metrics(request, context: context) }
        return routes
    }
}
