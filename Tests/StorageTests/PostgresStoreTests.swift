import Audit
import Foundation
import Logging
import ReferralModel
import Storage
import SwitchboardTesting
import Testing

@testable import PostgresStorage

/// What only a store several gateways share must promise: each test opens several stores on one
/// database, as several gateway processes would, and makes them race.
@Suite struct PostgresStoreTests {
    static func stores(_ count: Int, on server: TestPostgres? = nil, poolSize: Int = 4) async throws -> [PostgresStore] {
        let shared = server == nil ? try await TestPostgres.shared() : nil
        let server = try #require(server ?? shared)
        let database = try await server.makeDatabase()
        var logger = Logger(label: "postgres-tests")
        logger.logLevel = .warning
        return try (0..<count).map { _ in
            try PostgresStore(
                options: .init(
                    host: "127.0.0.1", port: server.port, user: server.user, database: database.name, poolSize: poolSize,
                    statementTimeout: .seconds(5), connectTimeout: TestPostgres.connectTimeout), logger: logger)
        }
    }

    @Test func eachRowsPlaceholdersNumberOnFromTheValuesBefore() {
        #expect(PostgresStore.placeholders(3, after: 0) == "($1, $2, $3)")
        #expect(PostgresStore.placeholders(2, after: 98, then: ", 'pending', 0") == "($99, $100, 'pending', 0)")
        #expect(PostgresStore.placeholders(1, after: 1_009) == "($1010)")
        #expect(PostgresStore.placeholders(2, after: 11, casts: ["text", "float8"]) == "($12::text, $13::float8)")
    }

    @Test func gatewaysClaimingAtOnceNeverTakeTheSameJob() async throws {
        let stores = try await Self.stores(3)
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        for index in 0..<120 { _ = try await stores[index % 3].accept(record(agencies: ["spa"], at: now.addingTimeInterval(Double(index) - 200))) }
        // Every store claims in small batches, all at once, until nothing is left.
        let claims = try await withThrowingTaskGroup(of: [DeliveryID].self) { group in
            for store in stores {
                for _ in 0..<2 {
                    group.addTask {
                        var mine: [DeliveryID] = []
                        while true {
                            let leased = try await store.leaseDueDeliveries(now: now, lanes: [LaneDemand(agency: "spa", limit: 7, leaseDuration: 60)])
                            if leased.isEmpty { return mine }
                            mine += leased.map(\.deliveryId)
                        }
                    }
                }
            }
            return try await group.reduce(into: [[DeliveryID]]()) { $0.append($1) }
        }
        let all = claims.flatMap { $0 }
        #expect(all.count == 120, "every job claimed")
        #expect(Set(all).count == 120, "no job claimed twice")
        #expect(claims.filter { !$0.isEmpty }.count > 1, "the claims were spread over the claimers")
    }

    @Test func aCompletionUnderALostLeaseIsRefusedWhicheverGatewaySendsIt() async throws {
        let stores = try await Self.stores(2)
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        _ = try await stores[0].accept(record(agencies: ["spa"], at: now))
        let first = try await stores[0].leaseDueDeliveries(now: now, lanes: [LaneDemand(agency: "spa", limit: 1, leaseDuration: 30)])
        #expect(first.count == 1)
        #expect(
            try await stores[1].leaseDueDeliveries(now: now.addingTimeInterval(10), lanes: [LaneDemand(agency: "spa", limit: 1, leaseDuration: 30)])
                .isEmpty)
        #expect(try await stores[1].nextDueDate(agencies: ["spa"]) == now.addingTimeInterval(30), "due again when the lease runs out")
        // The first gateway hung; the second rescues the job after the lease ran out.
        let rescued = try await stores[1].leaseDueDeliveries(
            now: now.addingTimeInterval(31), lanes: [LaneDemand(agency: "spa", limit: 1, leaseDuration: 30)])
        #expect(rescued.map(\.deliveryId) == first.map(\.deliveryId))
        #expect(rescued.first?.attempt == 1, "the same attempt made again, so the agency sees the same webhook-id")
        #expect(try await !stores[0].finish(first[0], result: .delivered(agencyReference: "LATE"), audit: [], now: now.addingTimeInterval(32)))
        #expect(try await stores[1].finish(rescued[0], result: .delivered(agencyReference: "REF"), audit: [], now: now.addingTimeInterval(32)))
        #expect(try await stores[0].report(referralId: first[0].referralId)?.deliveries.first?.state == .delivered)
    }

    @Test func theAuditChainStaysOneChainWithManyWriters() async throws {
        let stores = try await Self.stores(3)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, store) in stores.enumerated() {
                group.addTask {
                    for _ in 0..<40 { _ = try await store.accept(record(agencies: ["spa"])) }
                    try await store.appendAudit([
                        AuditEntry(at: Timestamp.string(Date()), kind: .gatewayStarted, actor: "gateway-\(index)", detail: "x")
                    ])
                }
            }
            try await group.waitForAll()
        }
        let verdict = try await stores[0].verifyAudit()
        guard case .intact(let events, _) = verdict else {
            Issue.record("the chain is broken: \(verdict)")
            return
        }
        #expect(events == 123)
    }

    @Test func theSameIdempotencyKeyAtTwoGatewaysAtOnceStoresOneReferral() async throws {
        let stores = try await Self.stores(2)
        for round in 0..<10 {
            let outcomes = try await withThrowingTaskGroup(of: IntakeOutcome.self) { group in
                for store in stores { group.addTask { try await store.accept(record(key: "key-\(round)", digest: "same")) } }
                return try await group.reduce(into: [IntakeOutcome]()) { $0.append($1) }
            }
            let accepted = outcomes.compactMap { if case .accepted(let receipt) = $0 { receipt } else { nil } }
            let replayed = outcomes.compactMap { if case .replayed(let receipt) = $0 { receipt } else { nil } }
            #expect(accepted.count == 1 && replayed == accepted, "round \(round): \(outcomes)")
        }
        #expect(try await stores[0].auditEvents(afterSequence: 0, limit: 100).count == 10)
    }

    @Test func twoGatewaysApplyingOverTheSameVersionStoreOne() async throws {
        let stores = try await Self.stores(2)
        let results = try await withThrowingTaskGroup(of: Bool.self) { group in
            for (index, store) in stores.enumerated() {
                group.addTask {
                    try await store.recordRules(
                        RulesVersionRecord(
                            number: 1, version: "sha256:\(index)", appliedAt: "2026-11-26T10:00:00.000Z", appliedBy: "admin-\(index)",
                            source: "api", summary: "s", text: "text \(index)"), expectedLatest: nil,
                        audit: [AuditEntry(at: "2026-11-26T10:00:00.000Z", kind: .rulesApplied, actor: "admin-\(index)", detail: "v1")])
                }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.filter { $0 }.count == 1 && results.count == 2)
        #expect(try await stores[1].rulesHistory(limit: 5).count == 1)
        #expect(try await stores[0].auditEvents(afterSequence: 0, limit: 10).count == 1, "the refused version wrote no audit event")
    }

    @Test func aDatabaseThatGoesAwayIsUnavailableNotAFaultAndComesBackWithoutARestart() async throws {
        let server = try await TestPostgres.started()
        let store = try await Self.stores(1, on: server)[0]
        _ = try await store.accept(record(agencies: ["spa"]))
        try await server.stop()
        do {
            _ = try await store.accept(record(agencies: ["spa"]))
            Issue.record("accepted with the database stopped")
        } catch {
            #expect(error is StoreUnavailable, "\(type(of: error)): \(error)")
        }
        // Known to be down, the next operations are refused at once, not after the 10 s the
        // store would wait for a connection.
        #expect(store.reachability.isDown)
        let asked = ContinuousClock.now
        await #expect(throws: StoreUnavailable.self) { try await store.checkWritable() }
        await #expect(throws: StoreUnavailable.self) { _ = try await store.queueCounts(now: Date()) }
        #expect(ContinuousClock.now - asked < .seconds(5), "refused fast while down: \(ContinuousClock.now - asked)")
        try await server.start()
        // The pool reconnects by itself.
        var recovered = false
        for _ in 0..<50 where !recovered {
            recovered = (try? await store.checkWritable()) != nil
            if !recovered { try await Task.sleep(for: .milliseconds(200)) }
        }
        #expect(recovered)
        #expect(!store.reachability.isDown)
        _ = try await store.accept(record(agencies: ["spa"]))
        #expect(try await store.queueCounts(now: Date()).first?.pending == 2)
        try await server.stop()
    }

    @Test func aClaimThatFailsReleasesItsJobsAtOnceNotAfterTheirLease() async throws {
        let server = try await TestPostgres.shared()
        let database = try await server.makeDatabase()
        let store = try PostgresStore(
            options: .init(
                host: "127.0.0.1", port: server.port, user: server.user, database: database.name, poolSize: 2,
                connectTimeout: TestPostgres.connectTimeout), logger: Logger(label: "postgres-tests"))
        let good = record(agencies: ["falls"])
        let unreadable = record(agencies: ["spa"])
        _ = try await store.accept(good)
        _ = try await store.accept(unreadable)
        // The claim commits, then a referral it took cannot be read, so its caller is told it
        // failed: as when the reply to a claim is lost while the database goes away or comes back.
        _ = try await server.psql(
            "UPDATE referrals SET body = decode('00', 'hex') WHERE id = '\(unreadable.referralId)'", database: database.name)
        let lanes = [LaneDemand(agency: "spa", limit: 5, leaseDuration: 120), LaneDemand(agency: "falls", limit: 5, leaseDuration: 120)]
        await #expect(throws: (any Error).self) { _ = try await store.leaseDueDeliveries(now: Date(), lanes: lanes) }
        // Its jobs are released as soon as the database takes the release, not after 120 s.
        var leased: [LeasedDelivery] = []
        for _ in 0..<50 where leased.isEmpty {
            leased = try await store.leaseDueDeliveries(now: Date(), lanes: [LaneDemand(agency: "falls", limit: 5, leaseDuration: 120)])
            if leased.isEmpty { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(leased.map(\.referralId) == [good.referralId])
        #expect(store.claimsReleasing.load(ordering: .relaxed) == 0)
        store.close()
    }

    @Test func concurrentReferralsAreStoredTogetherAndABadOneFailsAlone() async throws {
        let store = try await Self.stores(1, poolSize: 8)[0]
        let first = record(agencies: ["spa", "falls"])
        _ = try await store.accept(first)
        var duplicate = record(agencies: ["spa"])
        duplicate.referralId = first.referralId  // its id is taken: this write must fail, and only it
        let taken = duplicate
        let outcomes = try await withThrowingTaskGroup(of: (ReferralID, Bool).self) { group in
            for index in 0..<200 {
                group.addTask {
                    let intake = index == 100 ? taken : record(agencies: ["spa", "falls"], key: index % 10 == 0 ? "k\(index)" : nil)
                    do {
                        _ = try await store.accept(intake)
                        return (intake.referralId, true)
                    } catch {
                        return (intake.referralId, false)
                    }
                }
            }
            return try await group.reduce(into: [(ReferralID, Bool)]()) { $0.append($1) }
        }
        #expect(outcomes.filter { !$0.1 }.map(\.0) == [first.referralId], "only the duplicate failed")
        for (id, stored) in outcomes where stored {
            #expect(try await store.report(referralId: id)?.deliveries.count == 2)
        }
        guard case .intact(let events, _) = try await store.verifyAudit() else {
            Issue.record("the chain is broken")
            return
        }
        #expect(events == 200, "one event per stored referral, none for the one that failed")
        #expect(try await store.queueCounts(now: Date()).map(\.pending).reduce(0, +) == 400)
        #expect(store.auditChainLock.appends < 150, "referrals arriving together shared commits: \(store.auditChainLock.appends)")
    }

    @Test func gatewaysStartingTogetherMigrateOnce() async throws {
        let stores = try await Self.stores(4)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for store in stores { group.addTask { _ = try await store.laneStates() } }
            try await group.waitForAll()
        }
        #expect(try await stores[3].auditHead() == nil)
    }

    @Test func aDatabaseThePreviousVersionMadeIsMigratedAndKeepsItsData() async throws {
        let server = try await TestPostgres.shared()
        let database = try await server.makeDatabase()
        // What the previous version left: the first migration only, with a managed key in it.
        let previous = PostgresMigrations.migrations[0]
        let made =
            previous.sql + [
                "CREATE TABLE switchboard_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
                "INSERT INTO switchboard_migrations (version, name) VALUES (1, 'schema')",
                "INSERT INTO api_keys (id, owner, role, digest, created_at, created_by) VALUES ('old-key', 'Old Owner', 'admin', '0101', 1795000000, 'admin')",
                // An emergency referral with a pending delivery and an open attention item, as the previous version wrote them.
                """
                INSERT INTO referrals (id, received_at, actor, urgency, needs, rules_version, body)
                VALUES ('r-old', 1795000000, 'gp', 'emergency', '["mental-health-crisis"]', 'sha256:old', '\\x7b7d'::bytea)
                """,
                """
                INSERT INTO deliveries (id, referral_id, position, agency, rule, state, attempts, next_attempt_at)
                VALUES ('d-old', 'r-old', 0, 'crisis', 'crisis', 'pending', 0, 1795000000)
                """,
                "INSERT INTO attention (id, referral_id, agency, reason, since) VALUES ('a-old', 'r-old', 'crisis', 'old', '2026-11-18T11:06:40.000Z')",
            ]
        _ = try await server.psql(made.joined(separator: ";\n") + ";", database: database.name)
        var logger = Logger(label: "postgres-tests")
        logger.logLevel = .warning
        let store = try PostgresStore(
            options: .init(
                host: "127.0.0.1", port: server.port, user: server.user, database: database.name, poolSize: 2,
                connectTimeout: TestPostgres.connectTimeout),
            encryption: try testKey(), logger: logger)
        #expect(try await store.managedKeys().map(\.id) == ["old-key"])
        // Given a key, the gateway sealed the referral the previous version stored in plaintext.
        let sealed = try await server.psql(
            "SELECT count(*) FROM referrals WHERE sealed_key IS NOT NULL AND substring(body from 1 for 4) = '\\x00534231'::bytea",
            database: database.name)
        #expect(sealed.trimmingCharacters(in: .whitespacesAndNewlines) == "1")
        let at = Date(timeIntervalSince1970: 1_795_000_100)
        try await store.setConsolePassword(
            keyId: "old-key", hash: "scrypt$1$1$1$a$b", at: at, audit: AuditEntry(at: Timestamp.string(at), kind: .keyPasswordSet, detail: "set"))
        #expect(try await store.consolePassword(keyId: "old-key") == "scrypt$1$1$1$a$b")
        let versions = try await server.psql(
            "SELECT string_agg(version::text, ',' ORDER BY version) FROM switchboard_migrations", database: database.name)
        #expect(versions.trimmingCharacters(in: .whitespacesAndNewlines) == "1,2,3,4,5,6,7,8,9,10,11")
        // Migration 10 made the audit log's Merkle tree, filled in from the first event when integrated.
        #expect(try await store.auditTreeSize() == 0)
        #expect(try await store.auditRoots(at: [1])[1] != nil, "the landed version's events are there to integrate")
        // Migration 6 made the table console sessions are kept in.
        try await store.beginSession(
            StoredSession(digest: "d", keyDigest: [1], csrfToken: "t", signedInAt: at, lastSeen: at), forgettingIdleBefore: at, signedInBefore: at)
        #expect(
            try await store.resumeSession(digest: "d", now: at, touchBefore: at, idleBefore: at, signedInBefore: at)?.csrfToken == "t")
        // Migration 5 made the table signed requests' ids are kept in.
        #expect(try await store.recordWebhook(keyId: "old-key", webhookId: "m1", at: at, forgetBefore: at.addingTimeInterval(-3_600)))
        // Migration 4 gave what the previous version wrote its referral's urgency.
        let backfilled = try await server.psql(
            "SELECT d.urgency || ',' || d.head_start || ',' || a.urgency FROM deliveries d, attention a WHERE d.id = 'd-old' AND a.id = 'a-old'",
            database: database.name)
        #expect(backfilled.trimmingCharacters(in: .whitespacesAndNewlines) == "emergency,3600,emergency")
    }
}
