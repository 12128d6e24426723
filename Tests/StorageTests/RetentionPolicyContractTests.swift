import Audit
import Foundation
import PostgresStorage
import ReferralModel
import Storage
import SwitchboardTesting
import Testing

/// The scheduled retention policy's meaning of "closed", and its one run a day, in every store.
@Suite struct RetentionPolicyContractTests {
    /// A referral to one agency whose one delivery ends as `end` says, long ago.
    func stored(_ store: any SwitchboardStore, at: Date, _ end: (LeasedDelivery) async throws -> Void) async throws -> ReferralID {
        let intake = record(agencies: ["spa"], at: at)
        _ = try await store.accept(intake)
        let lease = try #require(
            try await store.lease(now: at.addingTimeInterval(1), limit: 10, agencies: ["spa"]).first { $0.referralId == intake.referralId })
        try await end(lease)
        return intake.referralId
    }

    func deadLetter(_ store: any SwitchboardStore, _ lease: LeasedDelivery, at: Date, resolved: Bool) async throws {
        _ = try await store.finish([DeliveryCompletion(lease: lease, result: .deadLetter(error: "HTTP 410"), audit: [], at: at, agencyReply: "gone")])
        var open = LoopChange(referralId: lease.referralId, at: at)
        let item = "a-\(lease.deliveryId)"
        open.openAttention = AttentionItem(
            id: item, referralId: lease.referralId, deliveryId: lease.deliveryId, agency: "spa", reason: "dead-lettered", since: Timestamp.string(at))
        #expect(try await store.applyLoopChange(open))
        if resolved {
            var resolve = LoopChange(referralId: lease.referralId, at: at)
            resolve.resolveAttention = (item, "duty manager", "closed: the person was phoned")
            #expect(try await store.applyLoopChange(resolve))
        }
    }

    @Test(arguments: StoreKind.allCases) func resolvedDeadLettersAndOldAcceptancesCountAsClosedAndNothingElse(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        let long = Date().addingTimeInterval(-400 * 86_400)
        let resolved = try await stored(store, at: long) { try await deadLetter(store, $0, at: long, resolved: true) }
        let unresolved = try await stored(store, at: long) { try await deadLetter(store, $0, at: long, resolved: false) }
        func accept(_ lease: LeasedDelivery, answered: Date) async throws {
            _ = try await store.finish([DeliveryCompletion(lease: lease, result: .delivered(agencyReference: nil), audit: [], at: answered)])
            var change = LoopChange(referralId: lease.referralId, at: answered)
            change.transition = .init(deliveryId: lease.deliveryId, from: [.delivered], to: .accepted)
            #expect(try await store.applyLoopChange(change))
        }
        let acceptedLongAgo = try await stored(store, at: long) { try await accept($0, answered: long.addingTimeInterval(60)) }
        let acceptedLately = try await stored(store, at: long) { try await accept($0, answered: Date().addingTimeInterval(-86_400)) }
        let waiting = try await stored(store, at: long) { _ in }

        let policy = RetentionPolicy(
            receivedBefore: Date().addingTimeInterval(-365 * 86_400), acceptedBefore: Date().addingTimeInterval(-180 * 86_400))
        let pruned = try await store.pruneClosedReferrals(policy, at: Date()) { count in
            AuditEntry(at: Timestamp.string(Date()), kind: .referralsPruned, actor: "retention", detail: "\(count)")
        }
        #expect(pruned == 2)
        #expect(try await store.loopReferral(resolved) == nil)
        #expect(try await store.loopReferral(acceptedLongAgo) == nil)
        for kept in [unresolved, acceptedLately, waiting] { #expect(try await store.loopReferral(kept) != nil) }
        #expect(
            try await store.deadLetters(agency: "spa", limit: 10).first { $0.referralId == resolved }?.agencyReply == nil, "replies go with the body")
        // Without accepted_after_days an acceptance is never closed.
        #expect(
            try await store.pruneClosedReferrals(RetentionPolicy(receivedBefore: Date()), at: Date()) { _ in
                AuditEntry(at: "x", kind: .referralsPruned, detail: "")
            } == 0)
    }

    @Test(arguments: StoreKind.allCases) func eachDaysRunIsClaimedOnceAndTheLastIsKept(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        #expect(try await store.lastRetentionRun() == nil)
        let at = Date()
        #expect(try await store.claimRetentionRun(day: "2026-12-06", gateway: "a", at: at))
        #expect(try await !store.claimRetentionRun(day: "2026-12-06", gateway: "b", at: at))
        try await store.finishRetentionRun(day: "2026-12-06", at: at.addingTimeInterval(2), pruned: 7)
        #expect(try await store.claimRetentionRun(day: "2026-12-07", gateway: "b", at: at.addingTimeInterval(86_400)))
        let last = try #require(try await store.lastRetentionRun())
        #expect(last.day == "2026-12-07" && last.gateway == "b" && last.finishedAt == nil)
    }

    @Test func gatewaysSharingPostgreSQLClaimTheDayExactlyOnce() async throws {
        let server = try await TestPostgres.shared()
        let database = try await server.makeDatabase()
        let stores = try (0..<4).map { _ in
            try PostgresStore(
                options: .init(
                    host: "127.0.0.1", port: server.port, user: server.user, database: database.name, poolSize: 2,
                    connectTimeout: TestPostgres.connectTimeout))
        }
        _ = try await stores[0].lastRetentionRun()
        let claims = try await withThrowingTaskGroup(of: Bool.self) { group in
            for store in stores { group.addTask { try await store.claimRetentionRun(day: "2026-12-07", gateway: "g", at: Date()) } }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(claims.filter { $0 }.count == 1)
    }
}
