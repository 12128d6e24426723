import Foundation
import Logging
import PostgresStorage
import ReferralModel
import ServiceLifecycle
import Storage
import SwitchboardTesting
import Testing

/// The PostgreSQL store as a service of the gateway's group: its pool and migrations run inside
/// the group, and when the group shuts down the store closes its connections.
@Suite struct PostgresLifecycleTests {
    func connections(_ server: TestPostgres, to database: String) async throws -> Int {
        let text = try await server.psql(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '\(database)' AND application_name = 'switchboard'", database: "postgres")
        return Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    @Test(arguments: [false, true])
    func theStoreRunsItsPoolInTheServiceGroupAndClosesItAtShutdown(usedBeforeTheGroupStarted: Bool) async throws {
        let server = try await TestPostgres.shared()
        let database = try await server.makeDatabase(prefix: "lifecycle")
        var logger = Logger(label: "lifecycle")
        logger.logLevel = .warning
        let store = try PostgresStore(
            options: .init(
                host: "127.0.0.1", port: server.port, user: server.user, database: database.name, poolSize: 4,
                connectTimeout: TestPostgres.connectTimeout), logger: logger)
        // The gateway records its start before the group runs: the store then runs its pool itself
        // until the group takes it over.
        if usedBeforeTheGroupStarted { _ = try await store.accept(record(agencies: ["spa"])) }
        let group = ServiceGroup(configuration: .init(services: [store], logger: logger))
        let running = Task { try await group.run() }
        _ = try await store.accept(record(agencies: ["spa"]))
        #expect(try await store.auditEvents(afterSequence: 0, limit: 10).count == (usedBeforeTheGroupStarted ? 2 : 1))
        #expect(try await connections(server, to: database.name) > 0)

        await group.triggerGracefulShutdown()
        try await running.value
        var open = try await connections(server, to: database.name)
        for _ in 0..<50 where open > 0 {
            try await Task.sleep(for: .milliseconds(100))
            open = try await connections(server, to: database.name)
        }
        #expect(open == 0, "the pool's connections are closed when the group has shut down")
        await #expect(throws: (any Error).self) { _ = try await store.auditHead() }
    }
}
