import Audit
import Foundation
import GRDB
import ReferralModel
import Storage
import Testing

/// The folder of databases and configuration earlier versions wrote (scripts/make-upgrade-fixture).
let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

/// A copy of a fixture's database in a temporary folder, so a test may migrate and write to it.
func copyOfFixtureDatabase(_ name: String) throws -> String {
    let path = temporaryDatabase()
    try FileManager.default.createDirectory(
        at: URL(fileURLWithPath: path).deletingLastPathComponent(), withIntermediateDirectories: true)
    try FileManager.default.copyItem(atPath: fixtures.appendingPathComponent("\(name)/switchboard.sqlite").path, toPath: path)
    return path
}

/// Databases written by earlier versions open, migrate, read back and verify with this one.
@Suite struct UpgradeTests {
    @Test func aDatabaseTheLandedVersionWroteOpensVerifiesAndReadsBack() async throws {
        let path = try copyOfFixtureDatabase("landed-2026-11")
        let store = try SQLiteStore(path: path)
        guard case .intact(let events, _) = try await store.verifyAudit() else {
            Issue.record("the audit chain written by the landed version does not verify")
            return
        }
        #expect(events == 48)
        let ids = try await DatabaseQueue(path: path).read { try ReferralID.fetchAll($0, sql: "SELECT id FROM referrals ORDER BY id") }
        #expect(ids.count == 7)
        var states: [DeliveryState: Int] = [:]
        for id in ids {
            let report = try #require(try await store.report(referralId: id))
            for delivery in report.deliveries { states[delivery.state, default: 0] += 1 }
            #expect(report.history.first?.event == "referral.received")
        }
        #expect(states == [.delivered: 2, .deadLettered: 4, .pending: 5])
        #expect(try await store.latestRules()?.number == 2)
        #expect(try await store.rulesHistory(limit: 10).map(\.source) == ["api", "start-up"])
        // Every pending job leases, and its stored referral reads back through the strict decoder.
        let agencies = try await DatabaseQueue(path: path).read {
            try AgencyID.fetchAll($0, sql: "SELECT DISTINCT agency FROM deliveries WHERE state = 'pending'")
        }
        let leased = try await store.leaseDueDeliveries(
            now: Date(), lanes: agencies.map { LaneDemand(agency: $0, limit: 100, leaseDuration: 30) })
        #expect(leased.count == 5, "leases the old version held are released: that process is gone")
        #expect(try await store.queueCounts(now: Date()).reduce(0) { $0 + $1.pending } == 5)
        #expect(try await store.queueCounts(now: Date()).reduce(0) { $0 + $1.deadLettered } == 4)
        #expect(try await store.deadLetters(agency: nil, limit: 10).count == 4, "dead letters from before the upgrade are listed")
        #expect(leased.allSatisfy { $0.referral.subject.nhsNumber?.hasPrefix("999") ?? true })
        // The chart's hourly counts are made from the trail the landed version wrote.
        let written: [(kind: String, count: Int)] = try await DatabaseQueue(path: path).read { db in
            try Row.fetchAll(db, sql: "SELECT kind, count(*) AS n FROM audit_events GROUP BY kind").map { row in
                (kind: row["kind"] as String, count: row["n"] as Int)
            }
        }
        let counted = try await store.auditActivity(
            since: Date(timeIntervalSince1970: 0), kinds: Set(written.compactMap { AuditKind(rawValue: $0.kind) }))
        var byKind: [String: Int] = [:]
        for entry in counted { byKind[entry.kind, default: 0] += entry.count }
        #expect(byKind == Dictionary(uniqueKeysWithValues: written.map { ($0.kind, $0.count) }))
        // And the upgraded database takes new writes on the same chain.
        try await store.appendAudit([AuditEntry(at: Timestamp.string(Date()), kind: .gatewayStarted, actor: "gateway", detail: "upgraded")])
        guard case .intact(let after, _) = try await store.verifyAudit() else {
            Issue.record("the chain broke after the upgrade")
            return
        }
        #expect(after == 49)
        // v20 made the table signed requests' ids are kept in, and idempotency keys the landed
        // version stored find their referrals (as a FHIR update or cancel asks).
        #expect(try await store.recordWebhook(keyId: "gp", webhookId: "m1", at: Date(), forgetBefore: Date().addingTimeInterval(-3_600)))
        let claimed: [String] = try await DatabaseQueue(path: path).read {
            try Row.fetchOne($0, sql: "SELECT actor, key, referral_id FROM idempotency_keys LIMIT 1").map {
                [$0["actor"], $0["key"], $0["referral_id"]]
            }
                ?? []
        }
        #expect(claimed.count == 3, "the landed version stored an idempotency key")
        if claimed.count == 3 { #expect(try await store.referralId(actor: claimed[0], idempotencyKey: claimed[1])?.rawValue == claimed[2]) }
    }
}
