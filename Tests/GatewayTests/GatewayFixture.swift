import Audit
import Deployment
import Foundation
import Gateway
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import ReferralModel
import Settings
import Storage
import Testing

/// The repository root, for reading the published files the tests hold the gateway to.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// A gateway wired exactly as `serve` wires it, on a temporary SQLite file and the example
/// agencies and rules, with one key per role.
struct GatewayFixture {
    static let referrerKey = "referrer-key-for-tests-0001"
    static let otherReferrerKey = "referrer-key-for-tests-0002"
    static let agencyKey = "agency-key-for-tests-00001"
    /// A referrer key that may submit only for the GP practice K84001.
    static let practiceKey = "practice-key-for-tests-001"
    static let adminKey = "admin-key-for-tests-000001"
    /// A second administrator, for approving another's proposal.
    static let secondAdminKey = "admin-key-for-tests-000002"
    /// Operations staff: the queues, no referral content.
    static let operationsKey = "operations-key-for-tests-01"
    /// Information governance: subject access searches.
    static let governanceKey = "governance-key-for-tests-01"
    /// A second person in information governance, to approve another's erasure.
    static let secondGovernanceKey = "governance-key-for-tests-02"
    /// An agency key that names no agency, as a configuration from before `agency:` may hold.
    static let unboundAgencyKey = "agency-key-for-tests-00002"

    let directory: URL
    let components: GatewayComponents
    let application: GatewayApplication

    var databasePath: String { directory.appendingPathComponent("gateway.sqlite").path }
    /// The fixture's own copy of config/rules.yaml: applying rules writes it.
    var rulesPath: String { directory.appendingPathComponent("rules.yaml").path }
    /// Its own copy of config/agencies.yaml.
    var agenciesPath: String { directory.appendingPathComponent("agencies.yaml").path }

    /// The secret a referrer system that signs its requests shares with the gateway.
    static let signingSecret = "whsec_c2lnbmluZy1zZWNyZXQtZm9yLXRlc3RzLTAwMQ=="

    static let environment: [String: String] = {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        return [
            "TEST_REFERRER_KEY": referrerKey, "TEST_AGENCY_KEY": agencyKey, "TEST_ADMIN_KEY": adminKey,
            "OXFORDSHIRE_SPA_SECRET": secret, "OXFORD_FALLS_SECRET": secret, "OXFORDSHIRE_MASH_SECRET": secret,
            "OXFORD_MH_CRISIS_SECRET": secret, "OXFORDSHIRE_BEFRIENDING_SECRET": secret, "OXFORDSHIRE_CHILDREN_SECRET": secret,
            "TEST_SIGNING_SECRET": signingSecret,
        ]
    }()

    /// The gateway as `serve` would start it again now, on the same store and files.
    func restarted() throws -> GatewayComponents {
        let configuration = try DeploymentConfiguration.load(
            path: directory.appendingPathComponent("switchboard.yaml").path, environment: Self.environment)
        return try GatewayComponents(
            configuration: configuration, store: components.store, logger: Logger(label: "test"), environment: Self.environment)
    }

    /// - Parameter approval: the documents whose changes need a second administrator's approval.
    /// - Parameter server: the `server` section's extra settings (timeouts, connection cap).
    /// - Parameter storageReserveMB: free space the store keeps on its disk (none by default).
    /// - Parameter under: the folder to make the fixture's own in (a small disk), else the temporary folder.
    /// - Parameter keys: more `api_keys` entries, one YAML flow mapping a line.
    /// - Parameter sections: more top-level sections of switchboard.yaml.
    /// - Parameter storage: the store's url, else a SQLite file of the fixture's own.
    /// - Parameter editAgencies: changes to the fixture's copy of config/agencies.yaml.
    /// - Parameter transparency: the audit log is a transparency log, signed with a key of the fixture's own.
    init(
        rateLimit: Double = 1_000, burst: Double = 1_000, approval: Set<GovernedDocument> = [], server: String = "",
        storageReserveMB: Int = 0, under: URL? = nil, clock: any WallClock = SystemClock(), keys: [String] = [], sections: String = "",
        storage: String = "sqlite:gateway.sqlite", editAgencies: (String) -> String = { $0 }, transparency: Bool = true
    ) throws {
        directory = (under ?? FileManager.default.temporaryDirectory).appendingPathComponent("switchboard-gateway-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let config = repositoryRoot.appendingPathComponent("config")
        try FileManager.default.copyItem(at: config.appendingPathComponent("rules.yaml"), to: directory.appendingPathComponent("rules.yaml"))
        // Its own agencies.yaml and templates too: applying agencies writes the file.
        for name in ["agencies.yaml", "templates"] {
            try FileManager.default.copyItem(at: config.appendingPathComponent(name), to: directory.appendingPathComponent(name))
        }
        let agencies = directory.appendingPathComponent("agencies.yaml")
        try editAgencies(try String(contentsOf: agencies, encoding: .utf8)).write(to: agencies, atomically: true, encoding: .utf8)
        if transparency {
            try NoteSigner.generate(name: "switchboard.gateway.test/audit").write(
                to: directory.appendingPathComponent("audit-signing.key"), atomically: true, encoding: .utf8)
        }
        let audit = transparency ? "audit: { checkpoint_file: audit-checkpoints.log, signing_key_file: audit-signing.key }" : ""
        // A whole test run starves the CPU at times: a shared database's connections get the wait a
        // busy deployment would give them (as the end-to-end deployments do), not the default 0.6 s.
        let postgresWait = storage.hasPrefix("postgres") ? ", connect_timeout_seconds: 5" : ""
        let yaml = """
            \(audit)
            server: { host: 127.0.0.1, port: 0\(server.isEmpty ? "" : ", " + server) }
            storage: { url: "\(storage)", reserve_mb: \(storageReserveMB)\(postgresWait) }
            agencies: { file: agencies.yaml, approval: \(approval.contains(.agencies) ? "required" : "none") }
            rules: { file: rules.yaml, approval: \(approval.contains(.rules) ? "required" : "none") }
            api_keys:
              - { id: test-gp, role: referrer, key_env: TEST_REFERRER_KEY }
              - { id: other-gp, role: referrer, sha256: \(APIKey.digest(of: Self.otherReferrerKey).map { String(format: "%02x", $0) }.joined()) }
              - { id: k84001-practice, role: referrer, organisations: [K84001], sha256: \(APIKey.digest(of: Self.practiceKey).map { String(format: "%02x", $0) }.joined()) }
              - { id: test-agency, role: agency, key_env: TEST_AGENCY_KEY, agency: oxfordshire-spa }
              - { id: unbound-agency, role: agency, sha256: \(APIKey.digest(of: Self.unboundAgencyKey).map { String(format: "%02x", $0) }.joined()) }
              - { id: test-admin, role: admin, key_env: TEST_ADMIN_KEY }
              - { id: second-admin, role: admin, sha256: \(APIKey.digest(of: Self.secondAdminKey).map { String(format: "%02x", $0) }.joined()) }
              - { id: test-operations, role: operations, sha256: \(APIKey.digest(of: Self.operationsKey).map { String(format: "%02x", $0) }.joined()) }
              - { id: test-governance, role: governance, sha256: \(APIKey.digest(of: Self.governanceKey).map { String(format: "%02x", $0) }.joined()) }
              - { id: second-governance, role: governance, sha256: \(APIKey.digest(of: Self.secondGovernanceKey).map { String(format: "%02x", $0) }.joined()) }
            \(keys.map { "  - \($0)\n" }.joined())limits: { requests_per_second: \(rateLimit), burst: \(burst) }
            fhir_in:
              needs:
                - {system: "http://fhir.nhs.uk/Id/dos-service-id", code: "111111111", need: mental-health-crisis}
              urgency:
                - {system: "https://fhir.nhs.uk/CodeSystem/arp-priority-code", code: "C3", urgency: urgent}
            \(sections)
            """
        let path = directory.appendingPathComponent("switchboard.yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        let configuration = try DeploymentConfiguration.load(path: path, environment: Self.environment)
        components = try GatewayComponents(configuration: configuration, clock: clock, logger: Logger(label: "test"), environment: Self.environment)
        application = try GatewayApplication(components: components, logger: Logger(label: "test"))
    }

    /// The HTTP application without the dispatcher: these tests are about the API.
    func test(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let app = Application(router: application.router)
        try await app.test(.router, body)
    }

    func count(_ table: String) throws -> Int {
        try SQLiteInspector(path: databasePath).count(table)
    }
}

/// The example referral from config/examples, as bytes.
func exampleReferral(_ name: String = "referral-falls") throws -> Data {
    try Data(contentsOf: repositoryRoot.appendingPathComponent("config/examples/\(name).json"))
}

func headers(key: String?, json: Bool = true, extra: [(String, String)] = []) -> HTTPFields {
    var fields = HTTPFields()
    if let key { fields[.authorization] = "Bearer \(key)" }
    if json { fields[.contentType] = "application/json" }
    for (name, value) in extra { fields[HTTPField.Name(name)!] = value }
    return fields
}

struct ProblemBody: Decodable {
    var type: String
    var title: String
    var status: Int
    var detail: String
    var errors: [FieldIssue]?
}

extension TestResponse {
    func problem() throws -> ProblemBody {
        try JSONDecoder().decode(ProblemBody.self, from: Data(buffer: body))
    }
}

/// Checks a response is problem+json of the given type, with the status in its body matching.
func expectProblem(_ response: TestResponse, _ type: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let problem = try response.problem()
    #expect(problem.type == type, sourceLocation: sourceLocation)
    #expect(problem.status == Int(response.status.code), sourceLocation: sourceLocation)
    #expect(response.headers[.contentType] == "application/problem+json", sourceLocation: sourceLocation)
}
