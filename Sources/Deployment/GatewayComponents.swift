import AdapterKit
import Audit
import Delivery
import Foundation
import JSONWebhookAdapter
import Logging
import Observability
import PostgresStorage
import ReferralModel
import Routing
import ServiceLifecycle
import Settings
import Storage
import Transport
import UnixSignals
import UseCases

/// The running parts of a gateway, assembled from a validated configuration: the store it names,
/// the libcurl transport, the dispatcher with one delivery target per agency, and the use cases the
/// HTTP API calls. `serve` and the tests build it the same way.
public final class GatewayComponents: Sendable {
    public let configuration: DeploymentConfiguration
    public let store: any SwitchboardStore
    public let transport: CurlTransport
    public let dispatcher: Dispatcher
    public let intake: ReferralIntake
    /// What happens after delivery: agencies' answers, re-routes, deadlines, the attention list.
    public let loop: ReferralLoop
    /// BaRS FHIR messages in (`$process-message`), through the intake and the loop above.
    public let messages: ProcessMessage
    /// Every change to the routing rules, and the rules in force (`rules.live`).
    public let rules: RulesAdministrator
    public let clock: any WallClock
    let logger: Logger
    /// The operators' queue commands: per-agency queues, dead letters, pause and resume.
    public let queue: QueueOperations
    /// What this gateway counts, for /metrics.
    public let metrics = GatewayMetrics()
    /// The API keys in force, and the commands that manage them.
    public let keys: LiveKeys
    public let keyAdministration: KeyAdministration
    /// Key holders' console passwords.
    public let consolePasswords: ConsolePasswords
    /// Console sessions, in the store: every gateway on a shared database knows them.
    public let sessions: ConsoleSessions
    /// The audit trail as administrators check, chart and export it.
    public let auditTrail: AuditTrail
    /// The audit log as a transparency log, where `audit.signing_key_file` is set.
    public let transparency: TransparencyLog?
    /// Subject access: a person's referrals, found by blind index, each search audited.
    public let subjectAccess: SubjectAccess
    /// Staff sign-in to the console through the organisation's identity provider, where `console.oidc` is set.
    public let staffSignIn: StaffSignIn?
    /// Erasing a referral's personal data, with a second person's approval where safeguarding is open.
    public let erasure: Erasure
    /// The retention policy's daily run, and the last run for the console.
    public let retention: Retention
    /// Whether this gateway should be sent work.
    public let readiness: Readiness
    /// Standard Webhooks signatures of referrer systems that sign, replays refused on every gateway.
    public let signatures: InboundSignatures
    /// The environment the configuration was read with: SIGHUP reads switchboard.yaml again with it.
    let environment: [String: String]

    /// - Parameter store: the store to use instead of the one the configuration names (tests pass
    ///   an in-memory one).
    /// - Parameter deliveryTransport: what the dispatcher sends through instead of libcurl (the
    ///   simulation's scripted agencies).
    public init(
        configuration: DeploymentConfiguration, store: (any SwitchboardStore)? = nil, clock: any WallClock = SystemClock(), logger: Logger,
        environment: [String: String] = ProcessInfo.processInfo.environment, deliveryTransport: (any HTTPTransport)? = nil
    ) throws {
        self.configuration = configuration
        self.environment = environment
        self.clock = clock
        let store =
            try store
            ?? Self.openStore(
                configuration.settings.storage, encryption: configuration.settings.storageEncryption, exclusive: true,
                reserveBytes: Int64(configuration.settings.storageReserveMB) << 20, environment: environment, logger: logger)
        self.store = store
        // Several gateways on one store: each follows the lane states, rules and agencies the others store.
        let shared = configuration.settings.storage.isShared
        transport = CurlTransport(maxHostConnections: configuration.settings.delivery.concurrency)
        let settings = configuration.settings
        let sending = deliveryTransport ?? transport
        let dispatcher = Dispatcher(
            queue: store, targets: Self.deliveryTargets(configuration, transport: sending, clock: clock), transport: sending, clock: clock,
            configuration: .init(concurrency: settings.delivery.concurrency, followLanes: shared ? 1 : nil),
            logger: logger, metrics: DeliveryMetrics(factory: metrics.factory))
        self.dispatcher = dispatcher
        queue = QueueOperations(queue: store, audit: store, lanes: dispatcher, clock: clock)
        let live = LiveRules(configuration.rules)
        var approval: Set<GovernedDocument> = []
        if settings.rulesApprovalRequired { approval.insert(.rules) }
        if settings.agenciesApprovalRequired { approval.insert(.agencies) }
        rules = RulesAdministrator(
            live: live, store: store, vocabulary: settings.vocabulary, path: settings.rulesPath, agenciesPath: settings.agenciesPath,
            installer: DeploymentAgencyInstaller(configuration: configuration, dispatcher: dispatcher, transport: sending, clock: clock),
            approvalRequired: approval,
            followsStore: shared, clock: clock, logger: logger)
        // Emergency and urgent referrals are routed around lanes the dispatchers have stopped.
        let lanes = DispatcherLaneConditions(dispatcher: dispatcher, stored: StoredLaneConditions(queue: store, clock: clock), clock: clock)
        let alerts = settings.alerts.map { Alerts(urgencies: $0.urgencies) }
        // A live gateway refuses the 999 test range of NHS numbers, wherever a referral comes from.
        let decoder = ReferralDecoder(vocabulary: settings.vocabulary, acceptsTestNumbers: settings.environment != .production)
        intake = ReferralIntake(
            decoder: decoder, rules: live, store: store, clock: clock, lanes: lanes, alerts: alerts,
            metrics: IntakeMetrics(factory: metrics.factory), onAccepted: { dispatcher.wake() })
        loop = ReferralLoop(
            store: store, rules: live, clock: clock, callbacks: Set(settings.apiKeys.filter { $0.callback != nil }.map(\.id)), lanes: lanes,
            alerts: alerts, decoder: decoder, onRerouted: { dispatcher.wake() })
        messages = ProcessMessage(
            intake: intake, loop: loop, store: store, concepts: settings.fhirConcepts, vocabulary: settings.vocabulary, clock: clock)
        keys = LiveKeys(configured: settings.apiKeys)
        keyAdministration = KeyAdministration(store: store, keys: keys, rules: live, clock: clock)
        consolePasswords = ConsolePasswords(store: store, keys: keys, clock: clock)
        sessions = ConsoleSessions(store: store, clock: clock)
        subjectAccess = SubjectAccess(store: store, clock: clock)
        let provider = Self.providerHTTP(transport)
        staffSignIn = settings.staffSignIn.map { oidc in StaffSignIn(settings: oidc, http: provider, clock: clock) }
        retention = Retention(
            store: store, clock: clock, schedule: settings.retention, gateway: "\(ProcessInfo.processInfo.hostName):\(getpid())")
        erasure = Erasure(store: store, clock: clock) { agency in live.current.agencies[agency]?.safeguardingRecipient ?? false }
        readiness = Readiness(store: store, rules: live, environment: (settings.environment ?? .test).rawValue) { dispatcher.isRunning }
        signatures = InboundSignatures(store: store, clock: clock)
        transparency = try Self.transparencyLog(settings.auditCheckpoints, store: store, clock: clock)
        auditTrail = AuditTrail(store: store, checkpoints: Self.checkpointFile(settings.auditCheckpoints, transparency: transparency))
        self.logger = logger
        // Work another gateway committed wakes this one's dispatcher at once; its poll is the fallback.
        (store as? PostgresStore)?.onDeliveriesAdded { dispatcher.wake() }
    }

    /// Opens (creating and migrating if needed) the store at `location`.
    /// - Parameter exclusive: claim the store for this process, as a delivering gateway must.
    /// - Parameter reserveBytes: free space to keep on the store's disk; intake is refused below it.
    /// - Parameter encryption: where the key that encrypts personal data at rest is (`storage.encryption`).
    /// - Parameter environment: where a PostgreSQL store's password (and an encryption key) is read from.
    public static func openStore(
        _ location: StorageLocation, encryption: StorageEncryption? = nil, exclusive: Bool = false, reserveBytes: Int64 = 0,
        environment: [String: String] = ProcessInfo.processInfo.environment, logger: Logger = Logger(label: "switchboard.store")
    ) throws -> any SwitchboardStore {
        let kek = try encryption.map { try KeyEncryptionKey(bytes: try $0.key(environment: environment)) }
        switch location {
        case .sqlite(let path):
            return try SQLiteStore(path: path, exclusive: exclusive, reserveBytes: reserveBytes, encryption: kek)
        case .postgres(let postgres):
            var password: String?
            if let name = postgres.passwordEnv {
                guard let value = environment[name], !value.isEmpty else {
                    throw ConfigError(issues: [
                        ConfigIssue(
                            file: "switchboard.yaml", line: 1, column: 1, message: "storage.password_env names \(name), which is not set",
                            hint: "export \(name) with the database password before starting the gateway")
                    ])
                }
                password = value
            }
            var storeLogger = logger
            // PostgresNIO reports every connection at debug; the store logs what operators need.
            storeLogger.logLevel = max(logger.logLevel, .notice)
            var options = PostgresStore.Options(
                host: postgres.host, port: postgres.port, user: postgres.user, password: password, database: postgres.database,
                tls: PostgresStore.Options.TLSMode(rawValue: postgres.tls.rawValue) ?? .verifyFull, poolSize: postgres.poolSize,
                statementTimeout: .seconds(postgres.statementTimeoutSeconds),
                connectTimeout: .milliseconds(Int(postgres.connectTimeoutSeconds * 1000)))
            options.caFile = postgres.caFile
            return try PostgresStore(options: options, encryption: kek, logger: storeLogger)
        }
    }

    /// Each agency as the dispatcher needs it: the agencies.yaml settings mapped into Delivery's own types.
    /// - Parameter transport: what fetches access tokens for agencies behind the NHS API platform.
    static func deliveryTargets(_ configuration: DeploymentConfiguration, transport: any HTTPTransport, clock: any WallClock) -> [DeliveryTarget] {
        agencyTargets(configuration, transport: transport, clock: clock) + callbackTargets(configuration) + alertTargets(configuration)
    }

    /// The on-call system's lane, where alerts is configured: its notices as JSON, signed with its secret.
    static func alertTargets(_ configuration: DeploymentConfiguration) -> [DeliveryTarget] {
        guard let alerts = configuration.settings.alerts,
            let adapter = try? JSONWebhookAdapter(setup: AdapterSetup(configDirectory: URL(fileURLWithPath: "/"), agencyId: Alerts.lane.rawValue))
        else { return [] }
        var target = DeliveryTarget(
            agencyId: Alerts.lane, endpoint: alerts.url, adapter: adapter, signer: alerts.secret.flatMap(WebhookSigner.init(secret:)),
            minimumLease: configuration.settings.delivery.leaseSeconds)
        // An alert is worth sending for longer than the emergency it is about takes to escalate.
        target.emergencyRetry = RetryPolicy(maxAttempts: 12, initialBackoff: 2, maxBackoff: 60)
        target.urgentRetry = target.emergencyRetry
        return [target]
    }

    /// A lane for each referrer key with a callback: its notices, as JSON, signed with its secret.
    static func callbackTargets(_ configuration: DeploymentConfiguration) -> [DeliveryTarget] {
        configuration.settings.apiKeys.compactMap { key in
            guard let callback = key.callback,
                let adapter = try? JSONWebhookAdapter(setup: AdapterSetup(configDirectory: URL(fileURLWithPath: "/"), agencyId: key.callbackLane))
            else { return nil }
            return DeliveryTarget(
                agencyId: AgencyID(key.callbackLane), endpoint: callback.url, adapter: adapter,
                signer: callback.secret.flatMap(WebhookSigner.init(secret:)),
                minimumLease: configuration.settings.delivery.leaseSeconds)
        }
    }

    static func agencyTargets(_ configuration: DeploymentConfiguration, transport: any HTTPTransport, clock: any WallClock) -> [DeliveryTarget] {
        configuration.agencies.agencies.compactMap { agency in
            guard let adapter = configuration.adapters[agency.id] else { return nil }
            // The current secret first; during a rotation, the one being retired too.
            let secrets = [agency.secretEnv, agency.previousSecretEnv].compactMap { $0.flatMap { configuration.agencySecrets[$0] } }
            let signer = agency.secretEnv == nil ? nil : WebhookSigner(secrets: secrets)
            func policy(_ urgency: Urgency) -> RetryPolicy {
                let schedule = agency.retry.schedule(for: urgency)
                return RetryPolicy(maxAttempts: schedule.maxAttempts, initialBackoff: schedule.initialBackoff, maxBackoff: schedule.maxBackoff)
            }
            var target = DeliveryTarget(
                agencyId: agency.id, endpoint: agency.endpoint, adapter: adapter, signer: signer, withheld: agency.withhold,
                retry: policy(.routine),
                connectTimeout: agency.connectTimeout, totalTimeout: agency.requestTimeout, receivesAllNeeds: agency.receivesAllNeeds,
                concurrency: agency.concurrency,
                circuit: CircuitPolicy(
                    failuresToOpen: agency.circuitBreaker.failures, coolDown: agency.circuitBreaker.coolDown,
                    maximumCoolDown: agency.circuitBreaker.maximumCoolDown, disableAfter: agency.circuitBreaker.disableAfterDays * 86_400,
                    failureRate: agency.circuitBreaker.failureRatePercent / 100, window: agency.circuitBreaker.window),
                minimumLease: configuration.settings.delivery.leaseSeconds,
                authorization: agency.authorization.flatMap { auth in
                    auth.environmentName.flatMap { configuration.agencySecrets[$0] }.flatMap(auth.header(secret:))
                },
                tls: agency.tls.map { TLSOptions(caFile: $0.caFile, certificateFile: $0.clientCertificate, keyFile: $0.clientKey) })
            target.urgentRetry = policy(.urgent)
            target.emergencyRetry = policy(.emergency)
            if case .nhsAPIPlatform(let platform) = agency.authorization,
                let pem = try? String(contentsOfFile: platform.privateKeyFile, encoding: .utf8)
            {
                target.tokens = try? NHSAccessTokens(
                    tokenURL: platform.tokenURL, clientId: platform.clientId, keyId: platform.keyId, privateKeyPEM: pem, transport: transport,
                    clock: clock)
            }
            return target
        }
    }

    /// The audit chain's anchor, where the configuration names a checkpoint file and a key.
    public var anchor: AuditAnchor? {
        guard let settings = configuration.settings.auditCheckpoints,
            let file = Self.checkpointFile(settings, transparency: transparency)
        else { return nil }
        return AuditAnchor(store: store, file: file, log: transparency, interval: settings.seconds, clock: clock, logger: logger)
    }

    /// The checkpoint file with the keys that sign (and check) it; nil without one the gateway holds.
    static func checkpointFile(_ settings: AuditCheckpoints?, transparency: TransparencyLog?) -> CheckpointFile? {
        guard let settings, settings.key != nil || transparency != nil else { return nil }
        return CheckpointFile(
            path: settings.file, secret: settings.key, verifier: transparency.flatMap { try? NoteVerifier(text: $0.verifierKey) },
            interval: settings.seconds)
    }

    static func transparencyLog(_ settings: AuditCheckpoints?, store: any SwitchboardStore, clock: any WallClock) throws -> TransparencyLog? {
        guard let settings, let text = settings.signingKey else { return nil }
        do {
            return TransparencyLog(store: store, signer: try NoteSigner(text: text), clock: clock)
        } catch {
            throw ConfigError(issues: [
                ConfigIssue(
                    file: "switchboard.yaml", line: 1, column: 1,
                    message:
                        "audit.signing_key_file \(settings.signingKeyFile ?? ""): \((error as? NoteKeyError)?.description ?? "it cannot be read")",
                    hint: "write a new one with: switchboard audit signing-key new FILE")
            ])
        }
    }

    /// Records the rules the gateway starts with as a stored version (unless they already are the
    /// newest) and audits the start. Call once before serving.
    public func start() async throws {
        try await dispatcher.restoreLanes()
        try await keyAdministration.refresh()
        do {
            try await rules.recordStartUp()
        } catch RulesAdministrator.Refusal.invalid(let issues) {
            throw ConfigError(issues: issues)
        }
        try await store.appendAudit([
            AuditNarrative.gatewayStarted(
                at: clock.now(), rulesVersion: rules.live.current.rules.version, agencies: configuration.agencies.agencies.count)
        ])
    }

    /// Reloads switchboard.yaml's keys on SIGHUP, and the managed keys every few seconds.
    public var keysWatcher: KeysWatcher {
        KeysWatcher(
            keys: keys, administration: keyAdministration, audit: store, configPath: configuration.settings.path, environment: environment,
            clock: clock, logger: logger)
    }

    /// The gateway's service group: the store (PostgreSQL), the transport, the dispatcher and the
    /// watchers, then `server` (the HTTP application) last. A graceful shutdown (SIGTERM or SIGINT
    /// where `signals` says) stops the server first, lets deliveries in flight finish for at most
    /// `shutdown_seconds`, then stops the rest in reverse order. `serve` runs it; so do the tests.
    public func serviceGroup(server: any Service, signals: [UnixSignal] = [.sigterm, .sigint], logger: Logger) -> ServiceGroup {
        var group = ServiceGroupConfiguration(services: services + [server], gracefulShutdownSignals: signals, logger: logger)
        group.maximumGracefulShutdownDuration = .milliseconds(Int64(configuration.settings.server.shutdownSeconds * 1_000))
        group.maximumCancellationDuration = .seconds(5)
        return ServiceGroup(configuration: group)
    }

    /// The services that run beside the HTTP server, in start order; they shut down in reverse, so
    /// the dispatcher finishes its attempts before the transport stops, and a PostgreSQL store's
    /// pool closes after both.
    public var services: [any Service] {
        // Where rules changes need approval the file is not watched (SIGHUP still reports an edit).
        let watch = configuration.settings.rulesApprovalRequired ? 0 : configuration.settings.rulesWatchSeconds
        var services: [any Service] = [transport, dispatcher, DeadlineWatcher(loop: loop, logger: logger), keysWatcher]
        // Where gateways share a store the stored versions govern: follow them, and leave the files alone.
        services.insert(
            configuration.settings.storage.isShared
                ? StoredVersionFollower(administrator: rules) : RulesReloader(administrator: rules, interval: watch), at: 2)
        if let anchor { services.append(anchor) }
        if retention.schedule != nil { services.append(RetentionScheduler(retention: retention, logger: logger)) }
        // A PostgreSQL store runs its pool in the group, first, so it closes last.
        if let store = store as? PostgresStore { services.insert(store, at: 0) }
        return services
    }
}

extension Dispatcher: LaneControl {}

extension GatewayComponents {
    /// The identity provider reached over the gateway's own HTTP client: ten seconds at most a call.
    static func providerHTTP(_ transport: CurlTransport) -> ProviderHTTP {
        ProviderHTTP(
            get: { url in
                let response = try await transport.send(
                    HTTPRequest(url: url, headers: [("Accept", "application/json")], connectTimeout: 5, totalTimeout: 10))
                return (response.status, response.body)
            },
            postForm: { url, form, authorization in
                let body = form.map { "\($0.0)=\(StaffSignIn.formEncoded($0.1))" }.joined(separator: "&")
                var headers: [(name: String, value: String)] = [
                    ("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json"),
                ]
                if let authorization { headers.append(("Authorization", authorization)) }
                let response = try await transport.send(
                    HTTPRequest(url: url, method: "POST", headers: headers, body: Array(body.utf8), connectTimeout: 5, totalTimeout: 10))
                return (response.status, response.body)
            })
    }
}

/// The lanes routing sees: the running dispatcher's own, which hold every pause, disablement and
/// circuit at once on this gateway and another gateway's within the second it follows the store
/// (intake asks for every emergency and urgent referral, so no read of the store each time); the
/// store's, read each time, where no dispatcher has loaded them (a command-line tool).
struct DispatcherLaneConditions: LaneConditionsSource {
    let dispatcher: Dispatcher
    let stored: StoredLaneConditions
    let clock: any WallClock

    func current() async -> LaneConditions {
        guard dispatcher.holdsStoredLanes else { return await stored.current() }
        return StoredLaneConditions.conditions(dispatcher.lanes, now: clock.now())
    }
}
