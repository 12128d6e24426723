import Audit
import Foundation
import GRDB
import ReferralModel
import Storage
import Testing

func temporaryDatabase() -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-tests-\(UUID().uuidString)")
    return directory.appendingPathComponent("store.sqlite").path
}

func sampleReferral() -> Referral {
    Referral(
        referrer: .init(organisation: "A81001", name: "Dr Test"),
        subject: .init(nhsNumber: "9990000018", givenName: "Test", familyName: "Person", birthDate: "1950-01-01", postcode: "OX1 2JD"),
        needs: ["reablement"], urgency: .urgent, reason: "test", consent: .init(status: .given))
}

func record(agencies: [AgencyID] = ["spa", "falls"], key: String? = nil, digest: String = "d1", at: Date = Date()) -> IntakeRecord {
    let id = ReferralID.make(now: at)
    return IntakeRecord(
        referralId: id, receivedAt: at, actor: "gp", referral: sampleReferral(), rulesVersion: "sha256:abc",
        deliveries: agencies.map { NewDelivery(route: Route(agency: $0, rule: "r-\($0)", deliveryId: DeliveryID.make(now: at))) },
        audit: [AuditEntry(at: Timestamp.string(at), kind: .referralReceived, actor: "gp", referralId: id, detail: "from A81001")],
        idempotency: key.map { IdempotencyClaim(key: $0, bodyDigest: digest) })
}

@Suite struct SQLiteStoreTests {
    @Test func concurrentSubmissionsShareCommitsAndAllSurvive() async throws {
        let path = temporaryDatabase()
        let store = try SQLiteStore(path: path)
        let ids = try await withThrowingTaskGroup(of: ReferralID.self) { group in
            for _ in 0..<200 {
                group.addTask {
                    let intake = record(agencies: ["spa"])
                    _ = try await store.accept(intake)
                    return intake.referralId
                }
            }
            return try await group.reduce(into: [ReferralID]()) { $0.append($1) }
        }
        let reopened = try SQLiteStore(path: path)
        for id in ids { #expect(try await reopened.report(referralId: id) != nil) }
        #expect(try await reopened.verifyAudit() == .intact(events: 200, head: try await reopened.auditEvents(afterSequence: 199, limit: 1)[0].hash))
    }

    @Test func rulesVersionsSurviveARestart() async throws {
        let path = temporaryDatabase()
        let store = try SQLiteStore(path: path)
        let record = RulesVersionRecord(
            number: 1, version: "sha256:1", appliedAt: "2026-11-24T10:00:00.000Z", appliedBy: "admin", source: "api", summary: "s1", text: "one")
        #expect(try await store.recordRules(record, expectedLatest: nil, audit: []))
        let reopened = try SQLiteStore(path: path)
        #expect(try await reopened.latestRules()?.text == "one")
    }

    @Test func aStoredValueThisGatewayCannotReadIsAnErrorNamingItsRowNeverAGuess() async throws {
        let path = temporaryDatabase()
        let store = try SQLiteStore(path: path)
        let intake = record(agencies: ["spa"])
        _ = try await store.accept(intake)
        let delivery = intake.deliveries[0].route.deliveryId
        try await DatabaseQueue(path: path).write {
            try $0.execute(sql: "UPDATE deliveries SET state = 'teleported' WHERE id = ?", arguments: [delivery])
        }
        let error = try await #require(throws: StoredValueUnreadable.self) { try await store.report(referralId: intake.referralId) }
        #expect("\(error)".contains("state of deliveries row \(delivery)") && "\(error)".contains("teleported"), "\(error)")
        await #expect(throws: StoredValueUnreadable.self) { try await store.loopReferral(intake.referralId) }
    }
}
