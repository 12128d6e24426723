import Deployment
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ReferralModel
import ServiceLifecycle
import Settings
import UseCases

/// The HTTP face of a gateway: the router over the components' use cases, and the Hummingbird
/// application that serves it beside the components' services. `serve` and the tests build it the
/// same way.
public struct GatewayApplication {
    public let components: GatewayComponents
    public let router: Router<GatewayContext>
    /// Counts and audits refused authentications.
    public let frontDoor: FrontDoor

    /// The API routes the router serves, in OpenAPI form: the console's pages are not part of the API.
    public var routes: [DocumentedRoute] {
        router.routes.filter { !$0.path.description.hasPrefix("/console") }.map {
            DocumentedRoute(method: $0.method.rawValue, path: $0.path.description)
        }
    }

    public init(components: GatewayComponents, logger: Logger) {
        self.components = components
        frontDoor = FrontDoor(
            refusedPerMinute: components.configuration.settings.rateLimit.refusedPerMinute, auditTrail: components.auditTrail,
            clock: components.clock, logger: logger, metrics: components.metrics)
        router = Self.buildRouter(components: components, frontDoor: frontDoor, logger: logger)
    }

    static func buildRouter(components: GatewayComponents, frontDoor: FrontDoor, logger: Logger) -> Router<GatewayContext> {
        let settings = components.configuration.settings
        let index = RouteIndex()
        let router = Router(context: GatewayContext.self)
        router.add(middleware: ProblemMiddleware(routes: index, logger: logger))
        let keyring = Keyring(keys: components.keys, clock: components.clock)
        let addresses = ClientAddress(trusted: settings.server.trustedProxies.compactMap(ClientAddress.Network.init))
        let limiter = RateLimiter(rate: settings.rateLimit.requestsPerSecond, burst: settings.rateLimit.burst, clock: components.clock)
        func requiring(_ roles: Set<Role>) -> AuthenticationMiddleware {
            AuthenticationMiddleware(keyring: keyring, limiter: limiter, frontDoor: frontDoor, addresses: addresses, roles: roles)
        }
        let loopAPI = LoopRoutes(loop: components.loop)
        let signed = SignedRequests(signatures: components.signatures)
        let referrals = ReferralRoutes(intake: components.intake, loop: loopAPI, logger: logger, signed: signed)
        let rulesAPI = RulesRoutes(
            administrator: components.rules, decoder: ReferralDecoder(vocabulary: settings.vocabulary),
            clock: components.clock)

        router.get("/healthz") { _, _ in
            try JSONResponse.make(["status": "ok"], status: .ok)
        }
        let health = HealthRoutes(
            readiness: components.readiness, rules: components.rules, queue: components.queue, loop: components.loop, metrics: components.metrics)
        router.get("/readyz") { request, context in try await health.ready(request, context: context) }
        router.group("/metrics").add(middleware: requiring([.admin]))
            .get { request, context in try await health.metrics(request, context: context) }
        router.get("/openapi.yaml") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/yaml"],
                body: .init(byteBuffer: ByteBuffer(bytes: Contract.openAPIDocument)))
        }
        let referrerOnly = router.group("/v1/referrals").add(middleware: requiring([.referrer]))
        referrerOnly.post { request, context in try await referrals.submit(request, context: context) }
        referrerOnly.post("{id}/cancel") { request, context in try await loopAPI.cancel(request, context: context) }
        referrerOnly.post("{id}/amendments") { request, context in try await loopAPI.amend(request, context: context) }
        router.group("/v1/referrals").add(middleware: requiring([.referrer, .admin, .agency]))
            .get("{id}") { request, context in try await referrals.show(request, context: context) }
        router.group("/v1/referrals").add(middleware: requiring([.agency]))
            .post("{id}/status") { request, context in try await loopAPI.answer(request, context: context) }
        let fhir = FHIRRoutes(
            messages: components.messages, signed: signed,
            endpoint: "\(settings.server.tlsCertificateFile == nil ? "http" : "https")://\(settings.server.host):\(settings.server.port)/FHIR/R4")
        router.group("/FHIR/R4").add(middleware: OperationOutcomeMiddleware()).add(middleware: requiring([.referrer, .agency]))
            .post("$process-message") { request, context in try await fhir.processMessage(request, context: context) }
        router.group("/v1/agency").add(middleware: requiring([.agency]))
            .get("referrals") { request, context in try await loopAPI.worklist(request, context: context) }
        let attention = router.group("/v1/attention").add(middleware: requiring([.admin]))
        attention.get { request, context in try await loopAPI.attention(request, context: context) }
        attention.post("{id}/resolve") { request, context in try await loopAPI.resolve(request, context: context) }
        let admin = router.group("/v1/rules").add(middleware: requiring([.admin]))
        admin.get { request, context in try await rulesAPI.show(request, context: context) }
        admin.put { request, context in try await rulesAPI.replace(request, context: context) }
        admin.post("test") { request, context in try await rulesAPI.test(request, context: context) }
        admin.post("rollback") { request, context in try await rulesAPI.rollback(request, context: context) }
        admin.get("versions") { request, context in try await rulesAPI.history(request, context: context) }
        admin.get("versions/{number}") { request, context in try await rulesAPI.version(request, context: context) }
        addProposals(admin, rulesAPI)

        let keysAPI = KeyRoutes(administration: components.keyAdministration)
        let keys = router.group("/v1/keys").add(middleware: requiring([.admin]))
        keys.get { request, context in try await keysAPI.list(request, context: context) }
        keys.post { request, context in try await keysAPI.create(request, context: context) }
        keys.post("{id}/revoke") { request, context in try await keysAPI.revoke(request, context: context) }
        keys.post("{id}/rotate") { request, context in try await keysAPI.rotate(request, context: context) }

        let queueAPI = QueueRoutes(operations: components.queue)
        let queue = router.group("/v1/queue").add(middleware: requiring([.admin]))
        queue.get { request, context in try await queueAPI.overview(request, context: context) }
        queue.get("dead") { request, context in try await queueAPI.dead(request, context: context) }
        queue.post("retry") { request, context in try await queueAPI.retry(request, context: context) }
        let agencies = router.group("/v1/agencies").add(middleware: requiring([.admin]))
        let agenciesAPI = RulesRoutes(
            administrator: components.rules, decoder: ReferralDecoder(vocabulary: settings.vocabulary),
            clock: components.clock, document: .agencies)
        agencies.get { request, context in try await agenciesAPI.showAgencies(request, context: context) }
        agencies.put { request, context in try await agenciesAPI.replace(request, context: context) }
        agencies.post("rollback") { request, context in try await agenciesAPI.rollback(request, context: context) }
        agencies.get("versions") { request, context in try await agenciesAPI.history(request, context: context) }
        agencies.get("versions/{number}") { request, context in try await agenciesAPI.version(request, context: context) }
        addProposals(agencies, agenciesAPI)
        agencies.post("{agency}/pause") { request, context in try await queueAPI.pause(request, context: context) }
        agencies.post("{agency}/resume") { request, context in try await queueAPI.resume(request, context: context) }
        agencies.post("{agency}/ping") { request, context in try await queueAPI.ping(request, context: context) }

        func addProposals(_ group: RouterGroup<GatewayContext>, _ api: RulesRoutes) {
            group.post("proposals") { request, context in try await api.propose(request, context: context) }
            group.get("proposals") { request, context in try await api.proposals(request, context: context) }
            group.get("proposals/{id}") { request, context in try await api.proposal(request, context: context) }
            group.post("proposals/{id}/approve") { request, context in try await api.approve(request, context: context) }
            group.post("proposals/{id}/reject") { request, context in try await api.reject(request, context: context) }
        }
        Console(components: components, frontDoor: frontDoor, addresses: addresses, logger: logger).addRoutes(to: router)
        index.set(router.routes.map { DocumentedRoute(method: $0.method.rawValue, path: $0.path.description) })
        return router
    }

    /// The Hummingbird application: the HTTP server (HTTPS when `server.tls` is set) plus the
    /// components' services (transport, dispatcher, rules reloader), shut down in reverse order.
    /// Throws when the TLS certificate or key cannot be read.
    public func application(
        logger: Logger, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> some ApplicationProtocol {
        let server = components.configuration.settings.server
        let proxies = ClientAddress(trusted: server.trustedProxies.compactMap(ClientAddress.Network.init))
        let connections = ConnectionCount(
            limit: server.maxConnections, perAddress: server.connectionsPerAddress, isProxy: { proxies.isTrusted($0) })
        let headerTimeout = TimeAmount.milliseconds(Int64(server.headerTimeoutSeconds * 1_000))
        let bodyTimeout = TimeAmount.milliseconds(Int64(server.bodyTimeoutSeconds * 1_000))
        let http = HTTP1Channel.Configuration(additionalChannelHandlers: [
            ConnectionGuard(connections: connections, headerTimeout: headerTimeout, bodyTimeout: bodyTimeout)
        ])
        // The HTTP side's own services; the store, dispatcher and watchers run beside this
        // application in the group Deployment assembles (`GatewayComponents.serviceGroup`).
        var services: [any Service] = [RefusalAuditService(frontDoor: frontDoor)]
        let builder: HTTPServerBuilder
        if let certificate = server.tlsCertificateFile, let key = server.tlsKeyFile {
            let credentials = try TLSCredentials(certificatePath: certificate, keyPath: key)
            builder = HTTPServerBuilder { responder in
                ReloadableTLSChannel(base: HTTP1Channel(responder: responder, configuration: http), credentials: credentials)
            }
            services.append(TLSReloader(credentials: credentials, logger: logger))
        } else {
            builder = .http1(configuration: http)
        }
        return Application(
            router: router, server: builder,
            configuration: .init(address: .hostname(server.host, port: server.port), serverName: nil),
            services: services,
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    /// `https` when the gateway terminates TLS, else `http`.
    public var scheme: String { components.configuration.settings.server.tlsCertificateFile == nil ? "http" : "https" }
}

/// JSON bodies with sorted keys, as every route answers.
enum JSONResponse {
    static func make<Value: Encodable>(_ value: Value, status: HTTPResponse.Status) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = try encoder.encode(value)
        return Response(
            status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// Requires a JSON body in UTF-8, else 415. JSON exchanged between systems is UTF-8 (RFC 8259 §8.1);
    /// a body declared in another charset would be misread, so it is refused, not guessed at.
    /// - Parameter types: the media types accepted; `application/json` unless another JSON type is named too.
    static func requireJSON(_ request: Request, what: String = "the referral", types: [String] = ["application/json"]) throws {
        let parts = (request.headers[.contentType] ?? "").split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let type = parts.first?.lowercased(), types.contains(type) else {
            throw ProblemResponse(
                .unsupportedMediaType, detail: "Send \(what) as JSON with 'Content-Type: \(types.joined(separator: "' or '"))'.")
        }
        for parameter in parts.dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2, pair[0].lowercased() == "charset" else { continue }
            let charset = pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")).lowercased()
            guard charset == "utf-8" || charset == "utf8" else {
                throw ProblemResponse(
                    .unsupportedMediaType,
                    detail:
                        "Send \(what) as UTF-8 JSON: 'Content-Type: application/json' or 'application/json; charset=utf-8'. Other character sets are not read."
                )
            }
        }
    }
}
