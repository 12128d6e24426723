import Audit
import Foundation
import ReferralModel
import Storage
import Testing

/// The delivery queue's lanes and operator views, held to the same behaviour in every store.
@Suite struct QueueContractTests {
    @Test(arguments: StoreKind.allCases) func eachLaneLeasesOnlyItsOwnAgencysJobsUpToItsLimit(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        // A backlog for a silent agency, older than the healthy agency's one job.
        for index in 0..<30 { _ = try await store.accept(record(agencies: ["silent"], at: now.addingTimeInterval(Double(index) - 100))) }
        let healthy = record(agencies: ["healthy"], at: now)
        _ = try await store.accept(healthy)
        let leased = try await store.leaseDueDeliveries(
            now: now, lanes: [LaneDemand(agency: "silent", limit: 4, leaseDuration: 60), LaneDemand(agency: "healthy", limit: 4, leaseDuration: 60)])
        #expect(leased.filter { $0.agency == "silent" }.count == 4, "the silent agency gets only its lane's slots")
        #expect(leased.filter { $0.agency == "healthy" }.map(\.referralId) == [healthy.referralId], "the healthy one is not stuck behind it")
        // Leased jobs stay hidden; the lane reads past them to the next due ones.
        let more = try await store.leaseDueDeliveries(now: now, lanes: [LaneDemand(agency: "silent", limit: 4, leaseDuration: 60)])
        #expect(more.count == 4)
        #expect(Set(more.map(\.deliveryId)).isDisjoint(with: leased.map(\.deliveryId)))
        #expect(try await store.nextDueDate(agencies: ["healthy"]) == now.addingTimeInterval(60), "its only job is leased for 60 s")
        #expect(try await store.nextDueDate(agencies: ["nobody"]) == nil)
        #expect(try await store.leaseDueDeliveries(now: now, lanes: [LaneDemand(agency: "nobody", limit: 4, leaseDuration: 60)]).isEmpty)
    }

    @Test(arguments: StoreKind.allCases) func lanesStatesAreStoredWithTheirAuditEvents(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        #expect(try await store.laneStates().isEmpty)
        let at = Date(timeIntervalSince1970: 1_800_000_000)
        var state = AgencyLaneState(agency: "spa", paused: .init(reason: "upgrade", by: "ops", at: at))
        try await store.saveLaneState(state, audit: [AuditNarrative.agencyPaused(agency: "spa", at: at, by: "ops", reason: "upgrade")])
        state.paused = nil
        state.circuit = .open
        state.reopensAt = at.addingTimeInterval(30)
        state.openings = 1
        state.failingSince = at
        try await store.saveLaneState(state, audit: [])
        #expect(try await store.laneStates() == [state], "the newest state replaces the one before")
        #expect(try await store.auditEvents(afterSequence: 0, limit: 10).map(\.kind) == ["agency.paused"])
    }

    @Test(arguments: StoreKind.allCases) func queueCountsShowEachAgencysPendingDueInFlightAndDead(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let oldest = record(agencies: ["spa"], at: now.addingTimeInterval(-600))
        _ = try await store.accept(oldest)
        // Received 300, 200 and 100 seconds ago, inserted newest first: the oldest still waiting
        // (once the very oldest is dead-lettered) is the one received 300 seconds ago.
        for age in [100.0, 200, 300] { _ = try await store.accept(record(agencies: ["spa"], at: now.addingTimeInterval(-age))) }
        _ = try await store.accept(record(agencies: ["falls"], at: now))
        let spa = try await store.leaseDueDeliveries(now: now, lanes: [LaneDemand(agency: "spa", limit: 3, leaseDuration: 60)])
        try await store.finish(spa[0], result: .deadLetter(error: "HTTP 400"), audit: [], now: now)
        try await store.finish(spa[1], result: .retry(at: now.addingTimeInterval(300), error: "HTTP 503"), audit: [], now: now)
        let counts = try await store.queueCounts(now: now)
        #expect(counts.map(\.agency.rawValue) == ["falls", "spa"])
        let lane = try #require(counts.last)
        #expect(lane.pending == 3)
        #expect(lane.due == 2)
        #expect(lane.scheduled == 1)
        #expect(lane.inFlight == 1)
        #expect(lane.deadLettered == 1)
        #expect(lane.oldestPendingSince == now.addingTimeInterval(-300), "when the longest-waiting referral was received")
        #expect(counts.first?.pending == 1)
    }

    @Test(arguments: StoreKind.allCases) func deadLettersAreListedAndReplayedEachOnce(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        // Received 300, 200 and 100 seconds ago, inserted newest first: the oldest still waiting
        // (once the very oldest is dead-lettered) is the one received 300 seconds ago.
        for age in [100.0, 200, 300] { _ = try await store.accept(record(agencies: ["spa"], at: now.addingTimeInterval(-age))) }
        _ = try await store.accept(record(agencies: ["falls"], at: now))
        let leased = try await store.leaseDueDeliveries(
            now: now, lanes: [LaneDemand(agency: "spa", limit: 10, leaseDuration: 60), LaneDemand(agency: "falls", limit: 10, leaseDuration: 60)])
        for (index, job) in leased.enumerated() {
            try await store.finish(job, result: .deadLetter(error: "HTTP 422"), audit: [], now: now.addingTimeInterval(Double(index)))
        }
        #expect(try await store.deadLetters(agency: nil, limit: 10).count == 4)
        let spa = try await store.deadLetters(agency: "spa", limit: 10)
        #expect(spa.count == 3)
        #expect(spa.allSatisfy { $0.reason == "HTTP 422" && $0.attempts == 1 && $0.deadLetteredAt != nil })
        #expect(try await store.deadLetters(agency: "spa", limit: 2).count == 2)

        let audit: @Sendable (DeadLetter) -> AuditEntry = { letter in
            AuditNarrative.deliveryRequeued(
                .init(referralId: letter.referralId, deliveryId: letter.deliveryId, agency: letter.agency), at: now, by: "ops",
                attempts: letter.attempts)
        }
        let one = try await store.requeue(.deliveries([spa[0].deliveryId]), now: now.addingTimeInterval(100), audit: audit)
        #expect(one.map(\.deliveryId) == [spa[0].deliveryId])
        #expect(try await store.requeue(.deliveries([spa[0].deliveryId]), now: now, audit: audit).isEmpty, "a replayed letter is not replayed twice")
        let rest = try await store.requeue(.agency("spa", since: nil), now: now.addingTimeInterval(100), audit: audit)
        #expect(rest.count == 2)
        #expect(try await store.deadLetters(agency: "spa", limit: 10).isEmpty)
        #expect(try await store.deadLetters(agency: "falls", limit: 10).count == 1, "another agency's letters stay")
        let again = try await store.leaseDueDeliveries(
            now: now.addingTimeInterval(100), lanes: [LaneDemand(agency: "spa", limit: 10, leaseDuration: 60)])
        #expect(again.count == 3)
        #expect(again.allSatisfy { $0.attempt == 1 }, "a replayed delivery starts its attempts again")
        let events = try await store.auditEvents(afterSequence: 0, limit: 100).filter { $0.kind == "delivery.requeued" }
        #expect(events.count == 3)
        #expect(events.allSatisfy { $0.actor == "ops" })
    }

    @Test(arguments: StoreKind.allCases) func replayingAnAgencySinceATimeTakesOnlyLaterLetters(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        for _ in 0..<2 { _ = try await store.accept(record(agencies: ["spa"], at: now)) }
        let leased = try await store.leaseDueDeliveries(now: now, lanes: [LaneDemand(agency: "spa", limit: 10, leaseDuration: 60)])
        try await store.finish(leased[0], result: .deadLetter(error: "old"), audit: [], now: now)
        try await store.finish(leased[1], result: .deadLetter(error: "new"), audit: [], now: now.addingTimeInterval(3600))
        let requeued = try await store.requeue(.agency("spa", since: now.addingTimeInterval(1800)), now: now.addingTimeInterval(4000)) { letter in
            AuditEntry(at: "2026-11-25T10:00:00.000Z", kind: .deliveryRequeued, deliveryId: letter.deliveryId, detail: "requeued")
        }
        #expect(requeued.map(\.reason) == ["new"])
    }

    @Test(arguments: StoreKind.allCases) func eachAgencysReferralsSinceAMomentAreCountedByTheirIds(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        let midnight = Date(timeIntervalSince1970: 1_796_601_600)
        _ = try await store.accept(record(agencies: ["spa"], at: midnight.addingTimeInterval(-60)))
        _ = try await store.accept(record(agencies: ["spa", "falls"], at: midnight.addingTimeInterval(60)))
        _ = try await store.accept(record(agencies: ["falls"], at: midnight.addingTimeInterval(3_600)))
        #expect(try await store.referralsRouted(since: midnight) == ["spa": 1, "falls": 2])
        #expect(try await store.referralsRouted(since: midnight.addingTimeInterval(-3_600)) == ["spa": 2, "falls": 2])
    }
}
