import Audit
import Foundation
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

func record(agencies: [String] = ["spa", "falls"], key: String? = nil, digest: String = "d1", at: Date = Date()) -> IntakeRecord {
    let id = Identifier.make(now: at)
    return IntakeRecord(
        referralId: id, receivedAt: at, actor: "gp", referral: sampleReferral(), rulesVersion: "sha256:abc",
        routes: agencies.map { Route(agency: $0, rule: "r-\($0)", deliveryId: Identifier.make(now: at)) },
        audit: [AuditEntry(at: Timestamp.string(at), kind: .referralReceived, actor: "gp", referralId: id, detail: "from A81001")],
        idempotency: key.map { IdempotencyClaim(key: $0, bodyDigest: digest) })
}

@Suite struct SQLiteStoreTests {
    @Test func acceptedReferralsAreReadBackWithTheirDeliveries() async throws {
        let store = try SQLiteReferralStore(path: temporaryDatabase())
        let intake = record()
        guard case .accepted(let receipt) = try await store.accept(intake) else { Issue.record("not accepted"); return }
        #expect(receipt.routes.map(\.agency) == ["spa", "falls"])
        let report = try #require(try await store.report(referralId: intake.referralId))
        #expect(report.status == .routed)
        #expect(report.deliveries.map(\.state) == [.pending, .pending])
        #expect(report.history.map(\.event) == ["referral.received"])
        #expect(report.submittedBy == "gp")
        #expect(try await store.report(referralId: Identifier.make()) == nil)
    }

    @Test func theSameIdempotencyKeyReplaysOrConflicts() async throws {
        let store = try SQLiteReferralStore(path: temporaryDatabase())
        guard case .accepted(let first) = try await store.accept(record(key: "k1", digest: "body-a")) else { Issue.record("not accepted"); return }
        #expect(try await store.accept(record(key: "k1", digest: "body-a")) == .replayed(first))
        #expect(try await store.accept(record(key: "k1", digest: "body-b")) == .idempotencyConflict)
        #expect(try await store.auditEvents(afterSequence: 0, limit: 100).count == 1, "a replay or conflict stores nothing")
    }

    @Test func concurrentSubmissionsShareCommitsAndAllSurvive() async throws {
        let path = temporaryDatabase()
        let store = try SQLiteReferralStore(path: path)
        let ids = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<200 {
                group.addTask {
                    let intake = record(agencies: ["spa"])
                    _ = try await store.accept(intake)
                    return intake.referralId
                }
            }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        let reopened = try SQLiteReferralStore(path: path)
        for id in ids { #expect(try await reopened.report(referralId: id) != nil) }
        #expect(try await reopened.verifyAudit() == .intact(events: 200, head: try await reopened.auditEvents(afterSequence: 199, limit: 1)[0].hash))
    }

    @Test func aLeaseHidesAJobUntilItExpires() async throws {
        let store = try SQLiteReferralStore(path: temporaryDatabase())
        let now = Date()
        _ = try await store.accept(record(agencies: ["spa"], at: now))
        let first = try await store.leaseDueDeliveries(now: now, limit: 10, leaseDuration: 30)
        #expect(first.count == 1)
        #expect(first.first?.attempt == 1)
        #expect(try await store.leaseDueDeliveries(now: now.addingTimeInterval(10), limit: 10, leaseDuration: 30).isEmpty)
        // The worker died: after the lease runs out the job is due again, as attempt 2.
        let rescued = try await store.leaseDueDeliveries(now: now.addingTimeInterval(31), limit: 10, leaseDuration: 30)
        #expect(rescued.map(\.deliveryId) == first.map(\.deliveryId))
        #expect(rescued.first?.attempt == 2)
        // The first worker's late result is refused: the rescued lease owns the job now.
        #expect(try await store.finish(first[0], result: .delivered(agencyReference: nil), audit: []) == false)
        #expect(try await store.finish(rescued[0], result: .delivered(agencyReference: "REF-1"), audit: []) == true)
        let report = try #require(try await store.report(referralId: rescued[0].referralId))
        #expect(report.deliveries.map(\.state) == [.delivered])
        #expect(report.status == .delivered)
    }

    @Test func retriesWaitAndDeadLettersStop() async throws {
        let store = try SQLiteReferralStore(path: temporaryDatabase())
        let now = Date()
        _ = try await store.accept(record(agencies: ["spa"], at: now))
        let job = try await store.leaseDueDeliveries(now: now, limit: 1, leaseDuration: 30)[0]
        try await store.finish(job, result: .retry(at: now.addingTimeInterval(60), error: "HTTP 503"), audit: [])
        #expect(try await store.leaseDueDeliveries(now: now.addingTimeInterval(59), limit: 1, leaseDuration: 30).isEmpty)
        #expect(try await store.nextDueDate().map { abs($0.timeIntervalSince(now) - 60) < 0.01 } == true)
        let again = try await store.leaseDueDeliveries(now: now.addingTimeInterval(61), limit: 1, leaseDuration: 30)[0]
        try await store.finish(again, result: .deadLetter(error: "HTTP 410"), audit: [])
        #expect(try await store.leaseDueDeliveries(now: now.addingTimeInterval(10_000), limit: 1, leaseDuration: 30).isEmpty)
        let report = try #require(try await store.report(referralId: job.referralId))
        #expect(report.status == .needsAttention)
        #expect(report.deliveries.first?.lastError == "HTTP 410")
    }

    @Test func aRulesVersionIsStoredOnlyOverTheVersionItWasMadeAgainst() async throws {
        let path = temporaryDatabase()
        let store = try SQLiteReferralStore(path: path)
        func version(_ number: Int, _ text: String) -> RulesVersionRecord {
            RulesVersionRecord(
                number: number, version: "sha256:\(number)", appliedAt: "2026-11-24T10:00:00.000Z", appliedBy: "admin", source: "api",
                summary: "s\(number)", text: text)
        }
        func applied(_ number: Int) -> AuditEntry { AuditEntry(at: "2026-11-24T10:00:00.000Z", kind: .rulesApplied, actor: "admin", detail: "version \(number)") }
        #expect(try await store.latestRules() == nil)
        #expect(try await store.recordRules(version(1, "one"), expectedLatest: nil, audit: [applied(1)]))
        #expect(try await store.recordRules(version(2, "two"), expectedLatest: 1, audit: [applied(2)]))
        // Two administrators both working from version 1: the second finds 2 already stored.
        #expect(try await !store.recordRules(version(2, "rival"), expectedLatest: 1, audit: [applied(2)]))
        #expect(try await !store.recordRules(version(5, "gap"), expectedLatest: 2, audit: [applied(5)]))
        #expect(try await store.latestRules()?.text == "two")
        #expect(try await store.rulesHistory(limit: 10).map(\.number) == [2, 1])
        #expect(try await store.rulesHistory(limit: 10).allSatisfy { $0.text == nil })
        #expect(try await store.rules(number: 1)?.text == "one")
        #expect(try await store.rules(number: 3) == nil)
        let events = try await store.auditEvents(afterSequence: 0, limit: 10)
        #expect(events.map(\.detail) == ["version 1", "version 2"], "a refused version writes no audit event")
        // Versions survive a restart.
        let reopened = try SQLiteReferralStore(path: path)
        #expect(try await reopened.latestRules()?.number == 2)
    }
}
