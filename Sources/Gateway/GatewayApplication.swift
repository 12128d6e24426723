import Console
import Deployment
import Foundation
import HTTPEdge
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

    /// Throws `ConsoleTemplateProblem` when a console page's template is missing or does not parse.
    public init(components: GatewayComponents, logger: Logger) throws {
        self.components = components
        frontDoor = FrontDoor(
            refusedPerMinute: components.configuration.settings.rateLimit.refusedPerMinute, auditTrail: components.auditTrail,
            clock: components.clock, logger: logger, metrics: components.metrics)
        router = try Self.buildRouter(components: components, frontDoor: frontDoor, logger: logger)
    }

    /// The router: every error as problem+json, then each part of the API and the console as a
    /// route collection of its own.
    static func buildRouter(components: GatewayComponents, frontDoor: FrontDoor, logger: Logger) throws -> Router<GatewayContext> {
        let settings = components.configuration.settings
        let index = RouteIndex()
        let router = Router(context: GatewayContext.self)
        router.add(middleware: ProblemMiddleware(routes: index, logger: logger))
        let addresses = ClientAddress(trusted: settings.server.trustedProxies.compactMap(ClientAddress.Network.init))
        let guards = APIGuard(
            authentication: AuthenticationMiddleware(
                keyring: Keyring(keys: components.keys, clock: components.clock), frontDoor: frontDoor, addresses: addresses),
            rate: RateLimitMiddleware(
                limiter: RateLimiter(rate: settings.rateLimit.requestsPerSecond, burst: settings.rateLimit.burst, clock: components.clock)))
        let decoder = ReferralDecoder(vocabulary: settings.vocabulary)
        let loop = LoopRoutes(loop: components.loop)
        let signed = SignedRequests(signatures: components.signatures)
        let queue = QueueRoutes(operations: components.queue)
        let fhir = FHIRRoutes(
            messages: components.messages, signed: signed,
            endpoint: "\(settings.server.tlsCertificateFile == nil ? "http" : "https")://\(settings.server.host):\(settings.server.port)/FHIR/R4")
        let health = HealthRoutes(
            readiness: components.readiness, rules: components.rules, queue: components.queue, loop: components.loop, metrics: components.metrics)

        router.addRoutes(health.collection(guards))
        router.addRoutes(
            ReferralRoutes(intake: components.intake, loop: loop, logger: logger, signed: signed).collection(guards), atPath: "/v1/referrals")
        router.addRoutes(fhir.collection(guards), atPath: "/FHIR/R4")
        router.addRoutes(loop.collection(guards), atPath: "/v1")
        router.addRoutes(
            RulesRoutes(administrator: components.rules, decoder: decoder, clock: components.clock).collection(guards), atPath: "/v1/rules")
        router.addRoutes(
            RulesRoutes(administrator: components.rules, decoder: decoder, clock: components.clock, document: .agencies)
                .collection(guards, queue: queue),
            atPath: "/v1/agencies")
        router.addRoutes(KeyRoutes(administration: components.keyAdministration).collection(guards), atPath: "/v1/keys")
        router.addRoutes(queue.collection(guards), atPath: "/v1/queue")
        router.addRoutes(
            RecordsRoutes(access: components.subjectAccess, erasure: components.erasure, loop: components.loop).collection(guards),
            atPath: "/v1/records")
        router.addRoutes(AuditRoutes(log: components.transparency).collection(guards), atPath: "/v1/audit")
        router.addRoutes(
            try Console(components: components, frontDoor: frontDoor, addresses: addresses, logger: logger).routes(), atPath: "/console")
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
