import AdapterKit
import Audit
import Delivery
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import ReferralModel
import Routing
import ServiceLifecycle
import Storage
import Transport

/// The running parts of a gateway, for `serve` and for tests that drive the same wiring.
public struct Gateway {
    public let store: any ReferralStore
    public let dispatcher: Dispatcher
    public let router: Router<GatewayContext>
    public let configuration: GatewayConfiguration
    /// Every change to the routing rules, and the rules in force (`rules.live`).
    public let rules: RulesAdministrator

    /// The routes the router serves, in OpenAPI form.
    public var routes: [DocumentedRoute] {
        router.routes.map { DocumentedRoute(method: $0.method.rawValue, path: $0.path.description) }
    }

    /// Wires store, dispatcher and routes from a validated configuration.
    public init(configuration: GatewayConfiguration, logger: Logger) throws {
        self.configuration = configuration
        let store: any ReferralStore
        switch configuration.storage {
        case .sqlite(let path): store = try SQLiteReferralStore(path: path)
        }
        self.store = store
        let targets = configuration.agencies.agencies.compactMap { agency -> DeliveryTarget? in
            guard let adapter = configuration.adapters[agency.id] else { return nil }
            let signer = agency.secretEnv.flatMap { configuration.agencySecrets[$0] }.flatMap(WebhookSigner.init(secret:))
            return DeliveryTarget(agency: agency, adapter: adapter, signer: signer)
        }
        dispatcher = Dispatcher(
            store: store, targets: targets, client: HTTPClient(),
            configuration: .init(concurrency: configuration.deliveryConcurrency, leaseDuration: configuration.leaseSeconds),
            logger: logger)
        rules = RulesAdministrator(live: LiveRules(configuration.rules), store: store, configuration: configuration, logger: logger)
        router = Self.buildRouter(configuration: configuration, store: store, rules: rules, dispatcher: dispatcher, logger: logger)
    }

    /// Records the rules the gateway starts with as a stored version (unless they already are the
    /// newest) and audits the start. Call once before serving.
    public func start() async throws {
        try await rules.recordStartUp()
        try await store.appendAudit([
            AuditEntry(
                at: Timestamp.string(Date()), kind: .gatewayStarted, actor: "gateway",
                detail: "rules version \(rules.live.current.rules.version); \(configuration.agencies.agencies.count) agencies")
        ])
    }

    static func buildRouter(
        configuration: GatewayConfiguration, store: any ReferralStore, rules: RulesAdministrator, dispatcher: Dispatcher?, logger: Logger
    ) -> Router<GatewayContext> {
        let index = RouteIndex()
        let router = Router(context: GatewayContext.self)
        router.add(middleware: ProblemMiddleware(routes: index, logger: logger))
        router.add(middleware: BodyLimitMiddleware())
        let keyring = Keyring(keys: configuration.apiKeys)
        let limiter = RateLimiter(rate: configuration.rateLimit, burst: configuration.rateBurst)
        func requiring(_ roles: Set<Role>) -> AuthenticationMiddleware {
            AuthenticationMiddleware(keyring: keyring, limiter: limiter, store: store, roles: roles)
        }
        let decoder = ReferralDecoder(vocabulary: configuration.vocabulary)
        let referrals = ReferralRoutes(decoder: decoder, rules: rules.live, store: store, dispatcher: dispatcher, logger: logger)
        let rulesAPI = RulesRoutes(administrator: rules, store: store, decoder: decoder)

        router.get("/healthz") { _, _ in
            try ReferralRoutes.json(["status": "ok"], status: .ok)
        }
        router.get("/openapi.yaml") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/yaml"],
                body: .init(byteBuffer: ByteBuffer(bytes: Contract.openAPIDocument)))
        }
        router.group("/v1/referrals").add(middleware: requiring([.referrer]))
            .post { request, context in try await referrals.submit(request, context: context) }
        router.group("/v1/referrals").add(middleware: requiring([.referrer, .admin]))
            .get("{id}") { request, context in try await referrals.show(request, context: context) }
        let admin = router.group("/v1/rules").add(middleware: requiring([.admin]))
        admin.get { request, context in try await rulesAPI.show(request, context: context) }
        admin.put { request, context in try await rulesAPI.replace(request, context: context) }
        admin.post("test") { request, context in try await rulesAPI.test(request, context: context) }
        admin.post("rollback") { request, context in try await rulesAPI.rollback(request, context: context) }
        admin.get("versions") { request, context in try await rulesAPI.history(request, context: context) }
        admin.get("versions/{number}") { request, context in try await rulesAPI.version(request, context: context) }

        index.set(router.routes.map { DocumentedRoute(method: $0.method.rawValue, path: $0.path.description) })
        return router
    }

    /// The Hummingbird application: HTTP server plus the dispatcher, shut down in reverse order.
    public func application(
        logger: Logger, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
            services: [dispatcher, RulesReloader(administrator: rules, interval: configuration.rulesWatchSeconds)],
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }
}
