import Audit
import Foundation
import Logging
import NIOSSL
import PostgresNIO
import ReferralModel
import ServiceLifecycle
import Storage
import Synchronization

/// The store for several gateways on one PostgreSQL database. Every promise the SQLite store makes
/// holds across processes:
/// - jobs are claimed with `FOR UPDATE SKIP LOCKED`, a lease token and expiry set in the same
///   statement, so two gateways never hold one job, and a completion is written only under the
///   lease that made it;
/// - writes are grouped into one transaction per batch, as with SQLite, and the audit events of a
///   batch are appended at its end under a transaction-scoped advisory lock, so the chain stays one
///   chain with many writers and each event commits with the change it records;
/// - a batch that adds due work sends one `NOTIFY`, a hint other gateways' dispatchers wake on;
///   they poll as well, so a lost notification costs latency, not work.
///
/// In a gateway the store is a `Service`, first in the service group: its `run()` runs the
/// connection pool and the migrations inside the group's task tree, and closes the pool when the
/// group has shut everything after it down (the dispatcher's last outcomes are written first). A
/// command-line tool that opens a store without a group gets a pool run by the store itself from
/// its first operation, which `close()` (or the store's release) stops.
public final class PostgresStore: SwitchboardStore, SharedAuditChain, Service {
    /// What sequencing the audit chain has cost this gateway.
    let sequencerFigures = AuditSequencer.Figures()

    public struct Options: Sendable {
        public var host: String
        public var port: Int
        public var user: String
        public var password: String?
        public var database: String
        public var tls: TLSMode
        /// Connections this gateway may open to the database.
        public var poolSize: Int
        /// The longest one statement may run before the server cancels it.
        public var statementTimeout: Duration
        /// The longest an operation waits for a connection: while the database is unreachable,
        /// requests are answered 503 after this long rather than waiting for it. The pool's own
        /// attempts to connect may take longer (`connectionAttempt`), so a slow link still connects.
        public var connectTimeout: Duration
        /// The longest the pool's attempt to open one connection (TCP, TLS, sign-in) may take.
        var connectionAttempt: Duration { max(connectTimeout, .seconds(5)) }

        /// The longest a whole operation may take: a connection, and a few statements.
        var operationLimit: Duration { connectTimeout + statementTimeout + .seconds(1) }

        /// As libpq's `sslmode`: `require` encrypts without checking the server's certificate;
        /// `verifyFull` checks it and its name, against `caFile` or else the system's roots.
        public enum TLSMode: String, Sendable {
            case disable, prefer, require
            case verifyFull = "verify-full"
        }
        /// The certificate authority (PEM file) for `verifyFull`.
        public var caFile: String?

        public init(
            host: String, port: Int = 5432, user: String, password: String? = nil, database: String, tls: TLSMode = .disable,
            poolSize: Int = 10, statementTimeout: Duration = .seconds(5), connectTimeout: Duration = .milliseconds(600)
        ) {
            self.host = host
            self.port = port
            self.user = user
            self.password = password
            self.database = database
            self.tls = tls
            self.poolSize = poolSize
            self.statementTimeout = statementTimeout
            self.connectTimeout = connectTimeout
        }
    }

    /// The channel a batch that adds due work notifies.
    static let deliveriesChannel = "switchboard_deliveries"

    let client: PostgresClient
    let logger: Logger
    let options: Options
    /// Whether the database was last found unreachable: operations then fail fast.
    let reachability = Reachability()
    /// Failed claims whose jobs are still being released.
    let claimsReleasing = Atomic<Int>(0)
    let writer: PostgresWriter
    /// How to connect without the pool: for the migration at start, which then says why it cannot.
    let direct: PostgresConnection.Configuration
    /// Who runs the connection pool: nobody yet, the store itself, or the service group.
    private enum Pool {
        case idle
        case own(Task<Void, Never>)
        case service
        case closed
    }
    private let pool = Mutex<Pool>(.idle)
    /// Schema migration, started with the store; every operation waits for it. One that failed (the
    /// database was down at start) is tried again by the next operation.
    private let migration = Mutex<Task<Void, any Error>?>(nil)
    /// Called when another gateway (or this one) committed due work.
    private let listeners = Mutex<[@Sendable () -> Void]>([])
    private let listening = Mutex<Task<Void, Never>?>(nil)
    /// The key-encryption key from `storage.encryption`, and the data keys it opened at start.
    let encryption: KeyEncryptionKey?
    private let opened = Mutex<RecordSealer?>(nil)

    /// - Parameter encryption: the key-encryption key; with it, personal data is sealed, and rows
    ///   written without it are sealed in place at start (in batches, so an interrupted start
    ///   carries on where it stopped).
    public init(options: Options, encryption: KeyEncryptionKey? = nil, logger: Logger = Logger(label: "switchboard.postgres")) throws {
        self.options = options
        self.encryption = encryption
        self.logger = logger
        var configuration = PostgresClient.Configuration(
            host: options.host, port: options.port, username: options.user, password: options.password, database: options.database,
            tls: try Self.tls(options.tls, caFile: options.caFile))
        configuration.options.maximumConnections = max(2, options.poolSize)
        configuration.options.minimumConnections = 0
        configuration.options.connectTimeout = options.connectionAttempt
        let milliseconds = options.statementTimeout.nanoseconds / 1_000_000
        configuration.options.additionalStartupParameters = [
            ("statement_timeout", "\(milliseconds)"), ("lock_timeout", "\(milliseconds)"), ("application_name", "switchboard"),
        ]
        var direct = PostgresConnection.Configuration(
            host: options.host, port: options.port, username: options.user, password: options.password, database: options.database,
            tls: try Self.connectionTLS(options.tls, caFile: options.caFile))
        direct.options.connectTimeout = .init(options.connectionAttempt)
        self.direct = direct
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        writer = PostgresWriter(
            client: client, logger: logger, connectTimeout: options.connectTimeout, limit: options.operationLimit, reachability: reachability)
    }

    deinit {
        if case .own(let task) = pool.withLock({ $0 }) { task.cancel() }
        listening.withLock { $0?.cancel() }
    }

    /// Runs the pool and the migrations as a service of the gateway's group until the group shuts
    /// down, then closes the pool. A pool the store already started for itself (work done before
    /// the group started: restoring lanes, recording the start) is taken over and closed the same way.
    public func run() async throws {
        let started: Task<Void, Never>? = pool.withLock { state in
            switch state {
            case .idle:
                state = .service
                return nil
            case .own(let task): return task
            case .service, .closed: return nil
            }
        }
        if let started {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.runSequencer() }
                try? await gracefulShutdown()
                if !Task.isCancelled { try? await sequencerTurn(within: .seconds(2)) }
                group.cancelAll()
            }
            started.cancel()
            await started.value
        } else {
            let client = client
            await withDiscardingTaskGroup { group in
                group.addTask { await client.run() }
                do {
                    try await ready()
                } catch {
                    // Not fatal: the next operation migrates again, and answers 503 until it can.
                    logger.warning("The database cannot be migrated yet", metadata: ["error": "\(PostgresFault.translate(error))"])
                }
                group.addTask { await self.runSequencer() }
                try? await gracefulShutdown()
                // The store stops last: what the gateway wrote joins the chain before it goes (a
                // gateway that cannot, or is cancelled, leaves it to the others' next turn).
                if !Task.isCancelled { try? await sequencerTurn(within: .seconds(2)) }
                group.cancelAll()
            }
        }
        close()
    }

    /// Closes the pool. The store cannot be used afterwards.
    public func close() {
        listening.withLock { $0?.cancel() }
        let running = pool.withLock { state -> Task<Void, Never>? in
            defer { state = .closed }
            if case .own(let task) = state { return task }
            return nil
        }
        running?.cancel()
    }

    /// Whether the store was closed: nothing may use it any more.
    var isClosed: Bool {
        pool.withLock { state in
            if case .closed = state { return true }
            return false
        }
    }

    /// Starts the pool here when no service group runs it (a command-line tool's store).
    private func startPool() {
        pool.withLock { state in
            guard case .idle = state else { return }
            let client = client
            state = .own(Task { await client.run() })
        }
    }

    private static func connectionTLS(_ mode: Options.TLSMode, caFile: String?) throws -> PostgresConnection.Configuration.TLS {
        switch try tlsConfiguration(mode, caFile: caFile) {
        case nil: return .disable
        case (let configuration, let required)?:
            let context = try NIOSSLContext(configuration: configuration)
            return required ? .require(context) : .prefer(context)
        }
    }

    /// The TLS settings `mode` asks for, and whether TLS is required; nil for none.
    private static func tlsConfiguration(_ mode: Options.TLSMode, caFile: String?) throws -> (TLSConfiguration, Bool)? {
        var unchecked = TLSConfiguration.makeClientConfiguration()
        unchecked.certificateVerification = .none
        switch mode {
        case .disable: return nil
        case .prefer: return (unchecked, false)
        case .require: return (unchecked, true)
        case .verifyFull:
            var checked = TLSConfiguration.makeClientConfiguration()
            if let caFile { checked.trustRoots = .file(caFile) }
            return (checked, true)
        }
    }

    private static func tls(_ mode: Options.TLSMode, caFile: String?) throws -> PostgresClient.Configuration.TLS {
        switch try tlsConfiguration(mode, caFile: caFile) {
        case nil: return .disable
        case (let configuration, let required)?: return required ? .require(configuration) : .prefer(configuration)
        }
    }

    /// Waits for the schema, then runs `work`, turning a database that cannot be reached into
    /// `StoreUnavailable` (answered 503 with `Retry-After`).
    func ready() async throws {
        startPool()
        let (direct, logger, kek) = (direct, logger, encryption)
        let task = migration.withLock { current in
            if let current { return current }
            let started = Task {
                let sealer = try await PostgresMigrations.migrate(configuration: direct, kek: kek, logger: logger)
                self.opened.withLock { $0 = sealer }
                try await self.sealStoredRecords(sealer)
            }
            current = started
            return started
        }
        do {
            try await task.value
        } catch {
            migration.withLock { if $0 == task { $0 = nil } }
            throw PostgresFault.translate(error)
        }
    }

    /// The data keys, opened once the schema is ready (every operation waits for that first).
    func sealer() throws -> RecordSealer {
        guard let sealer = opened.withLock({ $0 }) else { throw StoreUnavailable("the database is not ready yet") }
        return sealer
    }

    /// Runs reads on one connection inside a repeatable-read, read-only transaction: one moment.
    func read<Value: Sendable>(_ work: @escaping @Sendable (PostgresSession) async throws -> Value) async throws -> Value {
        try await transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", work)
    }

    /// Runs `work` on one connection inside a transaction `begin` opens, committed when it returns
    /// and rolled back when it throws.
    func transaction<Value: Sendable>(_ begin: PostgresQuery, _ work: @escaping @Sendable (PostgresSession) async throws -> Value)
        async throws -> Value
    {
        try await single { session in
            try await session.execute(begin)
            do {
                let value = try await work(session)
                try await session.execute("COMMIT")
                return value
            } catch {
                await session.rollBack(after: error)
                throw error
            }
        }
    }

    /// Runs `work` on any connection (one statement, or a transaction `work` opens), within the
    /// store's deadlines.
    func single<Value: Sendable>(_ work: @escaping @Sendable (PostgresSession) async throws -> Value) async throws -> Value {
        try await ready()
        let (client, logger, options, reachability) = (client, logger, options, reachability)
        do {
            return try await Deadline.run(options.operationLimit) {
                try await client.withConnection(within: options.connectTimeout, reachability: reachability) { connection in
                    try await work(PostgresSession(connection: connection, logger: logger))
                }
            }
        } catch {
            throw noted(PostgresFault.translate(error))
        }
    }

    /// A connection lost or refused means the database is down: later operations fail fast.
    func noted(_ error: any Error) -> any Error {
        if (error as? StoreUnavailable)?.serverUnreachable == true { reachability.unreachable() }
        return error
    }

    /// Runs `work` in the next group transaction and returns its result once that has committed.
    func write<Value: Sendable>(_ work: @escaping @Sendable (PostgresSession) async throws -> Value) async throws -> Value {
        try await ready()
        do {
            return try await writer.perform(work)
        } catch {
            throw noted(PostgresFault.translate(error))
        }
    }

    /// Calls `handler` whenever any gateway on the database commits work that may be due (a hint:
    /// it may be late or lost, so the dispatcher polls as well). Starts listening on first use, and
    /// listens again after the connection drops.
    public func onDeliveriesAdded(_ handler: @escaping @Sendable () -> Void) {
        listeners.withLock { $0.append(handler) }
        listening.withLock { task in
            guard task == nil else { return }
            task = Task { [weak self] in await self?.listen() }
        }
    }

    private func listen() async {
        while !Task.isCancelled {
            do {
                try await ready()
                try await client.withConnection { connection in
                    try await connection.listen(on: Self.deliveriesChannel) { notifications in
                        // Whatever was committed while not listening may be due now.
                        self.notifyListeners()
                        for try await _ in notifications { self.notifyListeners() }
                    }
                }
            } catch {
                if Task.isCancelled { return }
                logger.debug("Listening for new deliveries stopped; listening again", metadata: ["error.type": "\(type(of: error))"])
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    private func notifyListeners() {
        for handler in listeners.withLock({ $0 }) { handler() }
    }

    public func checkWritable() async throws {
        try await write { session in
            try await session.execute(
                "INSERT INTO readiness (id, checked_at) VALUES (1, \(Date().timeIntervalSince1970)) ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at"
            )
        }
    }
}
