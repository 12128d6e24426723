import Audit
import Foundation
import Logging
import PostgresStorage
import ReferralModel
import Storage
import SwitchboardTesting
import Testing

/// Every store implementation, for the shared contract: each test here runs against all of them,
/// so the in-memory twin the unit tests use cannot drift from the SQLite store a gateway runs on,
/// nor the PostgreSQL store several gateways share (each test gets a new database on a real server
/// the tests start).
enum StoreKind: String, CaseIterable, CustomTestStringConvertible {
    case sqlite
    case memory
    case postgres
    /// The real stores with encryption at rest (`storage.encryption`).
    case sqliteSealed = "sqlite, encrypted"
    case postgresSealed = "postgres, encrypted"

    func make() async throws -> any SwitchboardStore {
        switch self {
        case .sqlite: return try SQLiteStore(path: temporaryDatabase())
        case .memory: return InMemoryStore()
        case .postgres: return try await makePostgresStore()
        case .sqliteSealed: return try SQLiteStore(path: temporaryDatabase(), encryption: try testKey())
        case .postgresSealed: return try await makePostgresStore(encryption: try testKey())
        }
    }

    var testDescription: String { rawValue }
}

/// A PostgreSQL store on a new database of the tests' shared server.
func makePostgresStore(encryption: KeyEncryptionKey? = nil) async throws -> PostgresStore {
    let server = try await TestPostgres.shared()
    let database = try await server.makeDatabase()
    var logger = Logger(label: "contract.postgres")
    logger.logLevel = .warning
    return try PostgresStore(
        options: .init(
            host: "127.0.0.1", port: server.port, user: server.user, database: database.name, poolSize: 4,
            connectTimeout: TestPostgres.connectTimeout), encryption: encryption,
        logger: logger)
}

extension DeliveryQueue {
    /// Leases from every lane the contract's records use, each up to `limit`.
    func lease(now: Date, limit: Int, agencies: [AgencyID] = ["spa", "falls", "earlier", "later", "charity"]) async throws -> [LeasedDelivery] {
        try await leaseDueDeliveries(now: now, lanes: agencies.map { LaneDemand(agency: $0, limit: limit, leaseDuration: 30) })
            .sorted { $0.deliveryId < $1.deliveryId }
    }

    func nextDue() async throws -> Date? {
        try await nextDueDate(agencies: ["spa", "falls", "earlier", "later", "charity"])
    }
}

/// The behaviour every store promises, whatever it is built on.
@Suite struct StoreContractTests {
    @Test(arguments: StoreKind.allCases) func acceptedReferralsAreReadBackWithTheirDeliveries(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        let intake = record()
        guard case .accepted(let receipt) = try await store.accept(intake) else {
            Issue.record("not accepted")
            return
        }
        #expect(receipt.routes.map(\.agency.rawValue) == ["spa", "falls"])
        let report = try #require(try await store.report(referralId: intake.referralId))
        #expect(report.status == .routed)
        #expect(report.deliveries.map(\.state) == [.pending, .pending])
        #expect(report.history.map(\.event) == ["referral.received"])
        #expect(report.submittedBy == "gp")
        #expect(try await store.report(referralId: ReferralID.make()) == nil)
    }

    @Test(arguments: StoreKind.allCases) func theSameIdempotencyKeyReplaysOrConflicts(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        guard case .accepted(let first) = try await store.accept(record(key: "k1", digest: "body-a")) else {
            Issue.record("not accepted")
            return
        }
        #expect(try await store.accept(record(key: "k1", digest: "body-a")) == .replayed(first))
        #expect(try await store.accept(record(key: "k1", digest: "body-b")) == .idempotencyConflict)
        #expect(try await store.auditEvents(afterSequence: 0, limit: 100).count == 1, "a replay or conflict stores nothing")
        // A later message about the same request finds its referral by the key, for that key's holder only.
        #expect(try await store.referralId(actor: "gp", idempotencyKey: "k1") == first.id)
        #expect(try await store.referralId(actor: "another-gp", idempotencyKey: "k1") == nil)
        #expect(try await store.referralId(actor: "gp", idempotencyKey: "k2") == nil)
    }

    @Test(arguments: StoreKind.allCases) func aWebhookIdIsTakenOnceAndForgottenAfterItsHour(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        let now = Date()
        let hourAgo = now.addingTimeInterval(-3_600)
        #expect(try await store.recordWebhook(keyId: "gp", webhookId: "msg-1", at: now, forgetBefore: hourAgo))
        #expect(try await !store.recordWebhook(keyId: "gp", webhookId: "msg-1", at: now.addingTimeInterval(10), forgetBefore: hourAgo))
        // Another key's id is its own.
        #expect(try await store.recordWebhook(keyId: "other-gp", webhookId: "msg-1", at: now, forgetBefore: hourAgo))
        // An hour on, the first is forgotten (its timestamp is long refused by then anyway).
        let later = now.addingTimeInterval(3_700)
        #expect(try await store.recordWebhook(keyId: "gp", webhookId: "msg-1", at: later, forgetBefore: later.addingTimeInterval(-3_600)))
    }

    @Test(arguments: StoreKind.allCases) func aLeaseHidesAJobUntilItExpires(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        let now = Date()
        _ = try await store.accept(record(agencies: ["spa"], at: now))
        let first = try await store.lease(now: now, limit: 10)
        #expect(first.count == 1)
        #expect(first.first?.attempt == 1)
        #expect(try await store.lease(now: now.addingTimeInterval(10), limit: 10).isEmpty)
        // The worker died: after the lease runs out the job is due again. Its attempt was never
        // recorded, so it is the same attempt, with the same webhook-id, made again.
        let rescued = try await store.lease(now: now.addingTimeInterval(31), limit: 10)
        #expect(rescued.map(\.deliveryId) == first.map(\.deliveryId))
        #expect(rescued.first?.attempt == 1)
        // The first worker's late result is refused: the rescued lease owns the job now.
        #expect(try await store.finish(first[0], result: .delivered(agencyReference: nil), audit: [], now: Date()) == false)
        #expect(try await store.finish(rescued[0], result: .delivered(agencyReference: "REF-1"), audit: [], now: Date()) == true)
        let report = try #require(try await store.report(referralId: rescued[0].referralId))
        #expect(report.deliveries.map(\.state) == [.delivered])
        #expect(report.status == .delivered)
    }

    @Test(arguments: StoreKind.allCases) func retriesWaitAndDeadLettersStop(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        let now = Date()
        _ = try await store.accept(record(agencies: ["spa"], at: now))
        let job = try await store.lease(now: now, limit: 1)[0]
        try await store.finish(job, result: .retry(at: now.addingTimeInterval(60), error: "HTTP 503"), audit: [], now: Date())
        #expect(try await store.lease(now: now.addingTimeInterval(59), limit: 1).isEmpty)
        #expect(try await store.nextDue().map { abs($0.timeIntervalSince(now) - 60) < 0.01 } == true)
        let again = try await store.lease(now: now.addingTimeInterval(61), limit: 1)[0]
        #expect(again.attempt == 2, "the recorded attempt counts")
        try await store.finish(again, result: .deadLetter(error: "HTTP 410"), audit: [], now: Date())
        #expect(try await store.lease(now: now.addingTimeInterval(10_000), limit: 1).isEmpty)
        let report = try #require(try await store.report(referralId: job.referralId))
        #expect(report.status == .needsAttention)
        #expect(report.deliveries.first?.lastError == "HTTP 410")
    }

    @Test(arguments: StoreKind.allCases) func aRulesVersionIsStoredOnlyOverTheVersionItWasMadeAgainst(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        func version(_ number: Int, _ text: String) -> RulesVersionRecord {
            RulesVersionRecord(
                number: number, version: "sha256:\(number)", appliedAt: "2026-11-24T10:00:00.000Z", appliedBy: "admin", source: "api",
                summary: "s\(number)", text: text)
        }
        func applied(_ number: Int) -> AuditEntry {
            AuditEntry(at: "2026-11-24T10:00:00.000Z", kind: .rulesApplied, actor: "admin", detail: "version \(number)")
        }
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
    }

    @Test(arguments: StoreKind.allCases) func theAuditChainIsSealedInOrderAndVerifiedPageByPage(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        for index in 0..<25 {
            try await store.appendAudit([
                AuditEntry(at: "2026-11-24T10:00:00.000Z", kind: .gatewayStarted, actor: "gateway", detail: "start \(index)")
            ])
        }
        let events = try await store.auditEvents(afterSequence: 0, limit: 100)
        #expect(events.map(\.sequence) == Array(1...25))
        #expect(events.first?.previousHash == AuditChain.genesis)
        #expect(zip(events, events.dropFirst()).allSatisfy { $1.previousHash == $0.hash })
        #expect(try await store.auditEvents(afterSequence: 20, limit: 3).map(\.sequence) == [21, 22, 23])
        #expect(try await store.verifyAudit(pageSize: 4) == .intact(events: 25, head: events[24].hash))
    }

    @Test(arguments: StoreKind.allCases) func theEarliestDueJobsAreLeasedFirstUpToTheLimit(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let later = record(agencies: ["later"], at: now.addingTimeInterval(5))
        let earlier = record(agencies: ["earlier"], at: now)
        _ = try await store.accept(later)
        _ = try await store.accept(earlier)
        #expect(try await store.nextDue() == now)
        #expect(try await store.lease(now: now.addingTimeInterval(-1), limit: 10).isEmpty)
        let first = try await store.lease(now: now.addingTimeInterval(10), limit: 1, agencies: ["earlier"])
        #expect(first.map(\.agency.rawValue) == ["earlier"])
        #expect(first.first?.referral == sampleReferral(), "the leased referral reads back as it was accepted")
        // The leased job is due again only when its lease runs out.
        #expect(try await store.nextDue() == now.addingTimeInterval(5))
        let second = try await store.lease(now: now.addingTimeInterval(10), limit: 10)
        #expect(second.map(\.agency.rawValue) == ["later"])
        #expect(try await store.nextDue() == now.addingTimeInterval(40))
    }

    @Test(arguments: StoreKind.allCases) func aDeliveredJobRecordsItsTimeAndKeepsItsAlternatives(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        var intake = record(agencies: ["charity"], at: now)
        intake.deliveries[0].target.alternatives = ["council", "hub"]
        _ = try await store.accept(intake)
        let job = try #require(try await store.lease(now: now, limit: 1).first)
        let audit = [
            AuditEntry(
                at: Timestamp.string(now), kind: .deliveryDelivered, actor: "dispatcher", referralId: job.referralId, deliveryId: job.deliveryId,
                agency: job.agency, detail: "delivered")
        ]
        #expect(try await store.finish(job, result: .delivered(agencyReference: "REF"), audit: audit, now: now.addingTimeInterval(2)))
        let report = try #require(try await store.report(referralId: intake.referralId))
        #expect(report.deliveries.first?.deliveredAt == Timestamp.string(now.addingTimeInterval(2)))
        #expect(report.deliveries.first?.alternatives == ["council", "hub"])
        #expect(report.deliveries.first?.nextAttemptAt == nil)
        #expect(report.history.map(\.event) == ["referral.received", "delivery.delivered"])
        #expect(try await store.nextDue() == nil)
    }

    @Test(arguments: StoreKind.allCases) func eachDeliveryLeasesWithTheNeedsItsAgencyIsToldOf(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        var intake = record(agencies: ["falls", "spa"], at: now)
        intake.deliveries[0].target.needs = ["falls-prevention"]
        _ = try await store.accept(intake)
        let leased = try await store.lease(now: now, limit: 10)
        #expect(Dictionary(uniqueKeysWithValues: leased.map { ($0.agency, $0.needs) }) == ["falls": ["falls-prevention"], "spa": nil])
    }
}
