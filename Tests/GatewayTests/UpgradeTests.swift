import Deployment
import Foundation
import GRDB
import Gateway
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import ReferralModel
import Storage
import Testing

/// A gateway upgraded in place: the configuration and database the landed version wrote, opened
/// and served by this one.
@Suite struct UpgradeTests {
    static let referrerKey = "upgrade-referrer-key-0123456789"
    static let adminKey = "upgrade-admin-key-0123456789ab"

    /// What the example configuration of a landed version reads from the environment.
    static let exampleEnvironment: [String: String] = {
        var environment = [
            "SWITCHBOARD_REFERRER_KEY": referrerKey, "SWITCHBOARD_AGENCY_KEY": "upgrade-agency-key-0123456789", "SWITCHBOARD_ADMIN_KEY": adminKey,
            "SWITCHBOARD_AUDIT_KEY": String(repeating: "k", count: 48),
        ]
        for name in [
            "OXFORDSHIRE_SPA_SECRET", "OXFORD_FALLS_SECRET", "OXFORDSHIRE_MASH_SECRET", "OXFORD_MH_CRISIS_SECRET", "OXFORDSHIRE_BEFRIENDING_SECRET",
            "OXFORDSHIRE_CHILDREN_SECRET",
        ] {
            environment[name] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        }
        return environment
    }()

    /// A copy of the fixture folder (config/ and switchboard.sqlite), so the test may write to it.
    func copyOfFixture(_ name: String) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-upgrade-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: repositoryRoot.appendingPathComponent("Tests/Fixtures/\(name)"), to: directory)
        return directory
    }

    @Test func theLandedVersionsConfigurationAndDatabaseServeAfterTheUpgrade() async throws {
        let directory = try copyOfFixture("landed-2026-11")
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        var environment = [
            "SWITCHBOARD_REFERRER_KEY": Self.referrerKey, "SWITCHBOARD_AGENCY_KEY": "upgrade-agency-key-0123456789",
            "SWITCHBOARD_ADMIN_KEY": Self.adminKey,
        ]
        for name in [
            "OXFORDSHIRE_SPA_SECRET", "OXFORD_FALLS_SECRET", "OXFORDSHIRE_MASH_SECRET", "OXFORD_MH_CRISIS_SECRET", "OXFORDSHIRE_BEFRIENDING_SECRET",
        ] {
            environment[name] = secret
        }
        let configuration = try DeploymentConfiguration.load(
            path: directory.appendingPathComponent("config/switchboard.yaml").path, environment: environment)
        let components = try GatewayComponents(configuration: configuration, logger: Logger(label: "test"))
        try await components.start()
        // The rules file is the newest stored version, so the restart adds none.
        #expect(components.rules.live.current.record?.number == 2)
        #expect(try await components.store.rulesHistory(limit: 10).count == 2)
        let ids = try await SQLiteInspector(path: directory.appendingPathComponent("switchboard.sqlite").path).queue.read {
            try String.fetchAll($0, sql: "SELECT id FROM referrals ORDER BY id")
        }
        #expect(ids.count == 7)
        let application = try GatewayApplication(components: components, logger: Logger(label: "test"))
        try await Application(router: application.router).test(.router) { client in
            for id in ids {
                try await client.execute(uri: "/v1/referrals/\(id)", method: .get, headers: headers(key: Self.adminKey)) { response in
                    #expect(response.status == .ok)
                    let report = try JSONDecoder().decode(ReferralReport.self, from: Data(buffer: response.body))
                    #expect(report.id.rawValue == id)
                    #expect(!report.deliveries.isEmpty)
                }
            }
            try await client.execute(
                uri: "/v1/referrals", method: .post, headers: headers(key: Self.referrerKey), body: ByteBuffer(data: try exampleReferral())
            ) { response in
                #expect(response.status == .accepted)
            }
        }
        guard case .intact(let events, _) = try await components.store.verifyAudit() else {
            Issue.record("the upgraded audit chain does not verify")
            return
        }
        #expect(
            events == 48 + 1 + 1 + ids.count + 3,
            "the landed events, the agencies recorded as their first stored version, the start, each read, and the new referral's three")
    }

    /// The version that landed before urgency changed routing: its configuration (no hours, ages or
    /// children's fallback) still loads, its attention items read with their referral's urgency, and
    /// its pending deliveries lease by urgency.
    @Test func theVersionBeforeUrgencyRoutingServesItsDatabaseAndConfiguration() async throws {
        let directory = try copyOfFixture("landed-2026-12")
        let environment = Self.exampleEnvironment
        let configuration = try DeploymentConfiguration.load(
            path: directory.appendingPathComponent("config/switchboard.yaml").path, environment: environment)
        let components = try GatewayComponents(configuration: configuration, logger: Logger(label: "test"))
        try await components.start()
        let inspector = try SQLiteInspector(path: directory.appendingPathComponent("switchboard.sqlite").path)
        let urgencies = try inspector.queue.read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT d.urgency AS delivery, r.urgency AS referral, d.head_start FROM deliveries d JOIN referrals r ON r.id = d.referral_id")
        }
        #expect(!urgencies.isEmpty)
        for row in urgencies {
            let urgency: String = row["referral"]
            #expect(row["delivery"] as String? == urgency, "each delivery takes its referral's urgency")
            #expect(row["head_start"] as Double == LeaseOrder.headStart(Urgency(rawValue: urgency)))
        }
        let application = try GatewayApplication(components: components, logger: Logger(label: "test"))
        try await Application(router: application.router).test(.router) { client in
            try await client.execute(uri: "/v1/attention", method: .get, headers: headers(key: Self.adminKey)) { response in
                #expect(response.status == .ok)
                let items = (try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])?["items"] as? [[String: Any]]
                #expect(items?.count == 2, "the dead letters the earlier version escalated")
                #expect(items?.allSatisfy { $0["urgency"] as? String != nil && $0["dueAt"] == nil } == true)
            }
            try await client.execute(
                uri: "/v1/referrals", method: .post, headers: headers(key: Self.referrerKey),
                body: ByteBuffer(data: try exampleReferral("referral-crisis"))
            ) { #expect($0.status == .accepted) }
            // Console sessions are kept in a table the upgrade made.
            var admin = ConsoleBrowser(client)
            let home = try await admin.signIn(Self.adminKey)
            #expect(home.status == 200 && home.body.contains("Overview"), "\(home.status)")
        }
        #expect(try inspector.count("console_sessions") == 1)
        guard case .intact = try await components.store.verifyAudit() else {
            Issue.record("the upgraded audit chain does not verify")
            return
        }
    }

    /// The last landed version (before encryption at rest, subject access and the retention
    /// schedule): its configuration loads as it was, and its database serves, given a key now,
    /// sealed in place at start.
    @Test func theLastLandedVersionServesItsDatabaseAndConfigurationAndIsSealedWhenGivenAKey() async throws {
        let directory = try copyOfFixture("landed-2026-12-07")
        var environment = Self.exampleEnvironment
        environment["SWITCHBOARD_STORAGE_KEY"] = Data(repeating: 9, count: 32).base64EncodedString()
        let path = directory.appendingPathComponent("config/switchboard.yaml").path
        let unchanged = try DeploymentConfiguration.load(path: path, environment: environment)
        #expect(unchanged.settings.storageEncryption == nil && unchanged.settings.retention == nil)
        // The operator turns encryption on: one line, the key in the environment.
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try text.replacingOccurrences(
            of: "url: sqlite:../switchboard.sqlite", with: "url: sqlite:../switchboard.sqlite\n  encryption: { key_env: SWITCHBOARD_STORAGE_KEY }"
        ).write(toFile: path, atomically: true, encoding: .utf8)
        let configuration = try DeploymentConfiguration.load(path: path, environment: environment)
        #expect(configuration.settings.storageEncryption != nil)
        let components = try GatewayComponents(configuration: configuration, logger: Logger(label: "test"), environment: environment)
        try await components.start()
        let database = directory.appendingPathComponent("switchboard.sqlite").path
        let bodies = try await SQLiteInspector(path: database).queue.read { try Data.fetchAll($0, sql: "SELECT body FROM referrals") }
        #expect(bodies.count == 7 && bodies.allSatisfy(ReferralKey.isSealed))
        let submitted = try await components.intake.submit(
            Array(try exampleReferral()), actor: "example-gp-practice", idempotencyKey: nil)
        #expect(try await components.intake.report(referralId: submitted.receipt.id, viewer: "example-gp-practice", role: .referrer) != nil)
        // The chain itself: the fixture kept no checkpoint file, which `audit verify` rightly reports.
        guard case .intact = try await components.store.verifyAudit() else {
            Issue.record("the landed chain does not verify after sealing")
            return
        }
    }
}
