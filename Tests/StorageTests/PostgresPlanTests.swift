import Foundation
import PostgresNIO
import ReferralModel
import Storage
import Testing

@testable import PostgresStorage

/// The delivery queue's hot statements keep their shape when the table's statistics mislead: taken
/// while a handful of jobs were pending (as autovacuum often takes them), then a backlog of
/// thousands. Planned on those, a claim used to read and sort every due job of an agency (11 ms a
/// claim at 10,000), so the drain after an outage slowed as its backlog grew. Each must read its
/// index in order and stop at its limit: no Sort node in its plan.
@Suite struct PostgresPlanTests {
    /// A store whose statistics were taken with 300 referrals and jobs, now holding 12,300 of each.
    func storeWithMisleadingStatistics(now: Date) async throws -> PostgresStore {
        let store = try #require(try await PostgresStoreTests.stores(1).first)
        for index in 0..<300 { _ = try await store.accept(record(agencies: ["spa"], at: now.addingTimeInterval(Double(index) - 600))) }
        try await store.write { session in
            try await session.execute("ALTER TABLE deliveries SET (autovacuum_enabled = false)")
            try await session.execute("ALTER TABLE referrals SET (autovacuum_enabled = false)")
            try await session.execute("ANALYZE deliveries")
            try await session.execute("ANALYZE referrals")
            // Copies of each referral and its job under new ids: every column as the store wrote it.
            try await session.execute(
                """
                INSERT INTO referrals
                SELECT (jsonb_populate_record(r, jsonb_build_object('id', r.id || '-' || g))).*
                FROM referrals r, generate_series(1, 40) g
                """)
            try await session.execute(
                """
                INSERT INTO deliveries
                SELECT (jsonb_populate_record(d, jsonb_build_object('id', d.id || '-' || g, 'referral_id', d.referral_id || '-' || g))).*
                FROM deliveries d, generate_series(1, 40) g
                """)
        }
        return store
    }

    /// The plan PostgreSQL chooses for `query`, in the transaction the store runs it in.
    func explain(_ query: PostgresQuery, in store: PostgresStore) async throws -> String {
        let explain = PostgresQuery(unsafeSQL: "EXPLAIN " + query.sql, binds: query.binds)
        return try await store.inIndexOrder { session in
            try await session.rows(explain).map { try $0("QUERY PLAN", as: String.self) }
        }.joined(separator: "\n")
    }

    @Test func aClaimReadsItsLaneInIndexOrderWhateverTheStatisticsSay() async throws {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let store = try await storeWithMisleadingStatistics(now: now)
        let claim = PostgresStore.claimQuery(
            [LaneDemand(agency: "spa", limit: 8, leaseDuration: 60)], token: "plan-test", at: now.timeIntervalSince1970)

        let plan = try await explain(claim, in: store)
        #expect(!plan.contains("Sort"), "the claim sorts the backlog:\n\(plan)")
        #expect(plan.contains("deliveries_lease_order"), "the claim does not read the lease-order index:\n\(plan)")
        #expect(!plan.contains("Seq Scan"), "the claim scans a whole table:\n\(plan)")

        // And the claim itself takes its limit from the 12,300 due jobs, oldest first.
        let leased = try await store.leaseDueDeliveries(now: now, lanes: [LaneDemand(agency: "spa", limit: 8, leaseDuration: 60)])
        #expect(leased.count == 8)
    }

    @Test func theNextDueTimeIsTheFirstRowOfAnIndexWhateverTheStatisticsSay() async throws {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let store = try await storeWithMisleadingStatistics(now: now)
        // Some jobs leased, so both halves of the question have rows to find.
        _ = try await store.leaseDueDeliveries(now: now, lanes: [LaneDemand(agency: "spa", limit: 50, leaseDuration: 60)])

        let plan = try await explain(PostgresStore.nextDueQuery(["spa", "falls"]), in: store)
        #expect(!plan.contains("Sort"), "the next-due query sorts the backlog:\n\(plan)")
        #expect(plan.components(separatedBy: "Limit").count - 1 == 2, "each half should stop at its first row:\n\(plan)")
        #expect(try await store.nextDueDate(agencies: ["spa"]) != nil)
    }
}
