import Deployment
import Foundation
import Settings
import Storage
import SwitchboardTesting
import Testing

/// Connecting to PostgreSQL as a production server asks: a password read from the environment,
/// TLS checked against the server's CA; and when something is wrong, a sentence that says what.
@Suite(.serialized) struct PostgresConnectionTests {
    static let password = "correct-horse-battery-staple-42"

    static func location(_ server: TestPostgres, database: String, user: String, sslmode: String, caFile: String? = nil) throws
        -> StorageLocation
    {
        guard case .postgres(var postgres)? = StorageLocation.parse("postgres://\(user)@127.0.0.1:\(server.port)/\(database)?sslmode=\(sslmode)")
        else { throw TestPostgres.Unavailable(description: "the url did not parse") }
        postgres.passwordEnv = "TEST_DATABASE_PASSWORD"
        // A debug build making TLS connections on a busy machine: these tests are about trust, not time.
        postgres.connectTimeoutSeconds = 10
        postgres.caFile = caFile
        return .postgres(postgres)
    }

    @Test func aPasswordFromTheEnvironmentAndACheckedCertificateReachTheDatabaseOverTLS() async throws {
        let server = try await TestPostgres.started(tls: true)
        defer { server.stopLater() }
        try await server.addPasswordRole("gateway_app", password: Self.password)
        let database = try await server.makeDatabase(owner: "gateway_app")
        let location = try Self.location(server, database: database.name, user: "gateway_app", sslmode: "verify-full", caFile: server.caFile)
        let store = try GatewayComponents.openStore(location, environment: ["TEST_DATABASE_PASSWORD": Self.password])
        try await store.checkWritable()
        #expect(try await store.auditHead() == nil)
        let encrypted = try await server.psql(
            "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.usename = 'gateway_app'", database: "postgres")
        #expect(encrypted.trimmingCharacters(in: .whitespacesAndNewlines) == "t", "the gateway's connections are encrypted")

        // The wrong password: a sentence naming the user and where to look, never the password.
        let wrong = try GatewayComponents.openStore(location, environment: ["TEST_DATABASE_PASSWORD": "not-the-password"])
        let refusal = try await #require(throws: StoreUnavailable.self) { try await wrong.checkWritable() }
        #expect(refusal.reason.contains("refused user gateway_app"), "\(refusal.reason)")
        #expect(!refusal.reason.contains("not-the-password"))

        // A certificate the gateway was not told to trust.
        let untrusted = try GatewayComponents.openStore(
            try Self.location(server, database: database.name, user: "gateway_app", sslmode: "verify-full"),
            environment: ["TEST_DATABASE_PASSWORD": Self.password])
        let tls = try await #require(throws: StoreUnavailable.self) { try await untrusted.checkWritable() }
        #expect(tls.reason.contains("TLS"), "\(tls.reason)")
    }

    @Test func aMissingPasswordVariableOrAServerWithoutTLSIsSaidPlainly() async throws {
        let server = try await TestPostgres.shared()
        let database = try await server.makeDatabase()
        let location = try Self.location(server, database: database.name, user: server.user, sslmode: "require")
        #expect(throws: ConfigError.self) { try GatewayComponents.openStore(location, environment: [:]) }
        let store = try GatewayComponents.openStore(location, environment: ["TEST_DATABASE_PASSWORD": "unused"])
        let refusal = try await #require(throws: StoreUnavailable.self) { try await store.checkWritable() }
        #expect(refusal.reason.contains("does not offer TLS"), "\(refusal.reason)")
        let missing = try GatewayComponents.openStore(
            try Self.location(server, database: "no_such_database", user: server.user, sslmode: "disable"),
            environment: ["TEST_DATABASE_PASSWORD": "unused"])
        let absent = try await #require(throws: StoreUnavailable.self) { try await missing.checkWritable() }
        #expect(absent.reason.contains("no database no_such_database"), "\(absent.reason)")
    }
}
