import Audit
import Foundation
import Logging
import ReferralModel
import ServiceLifecycle
import Settings
import Storage
import SwitchboardTesting
import Testing
import UseCases

/// The retention policy runs itself at its time, once a day across gateways, and is audited.
@Suite struct RetentionTests {
    /// 2026-12-07 01:00 in London (GMT in December).
    static let beforeRun = Date(timeIntervalSince1970: 1_796_605_200)

    /// A referral received long ago whose one delivery was withdrawn: closed.
    func closedReferral(_ store: InMemoryStore, at: Date) async throws -> ReferralID {
        let id = ReferralID.make(now: at)
        let delivery = DeliveryID.make(now: at)
        _ = await store.accept(
            IntakeRecord(
                referralId: id, receivedAt: at, actor: "gp",
                referral: Referral(
                    referrer: .init(organisation: "A81001", name: "Dr Test"),
                    subject: .init(nhsNumber: "9990000018", givenName: "Test", familyName: "Person", birthDate: "1950-01-01", postcode: "OX1 2JD"),
                    needs: ["reablement"], urgency: .routine, reason: "test", consent: .init(status: .given)),
                rulesVersion: "v", deliveries: [NewDelivery(route: Route(agency: "spa", rule: "r", deliveryId: delivery))], audit: [],
                idempotency: nil))
        var change = LoopChange(referralId: id, at: at)
        change.withdrawn = [delivery]
        _ = await store.applyLoopChange(change)
        return id
    }

    @Test func itRunsAtItsTimeOnceADayAcrossGatewaysAndIsAudited() async throws {
        let clock = ManualClock(now: Self.beforeRun)
        let store = InMemoryStore()
        let old = try await closedReferral(store, at: Self.beforeRun.addingTimeInterval(-40 * 86_400))
        let recent = try await closedReferral(store, at: Self.beforeRun.addingTimeInterval(-5 * 86_400))
        let schedule = RetentionSchedule(closedAfterDays: 30, runAt: (2, 30))
        let first = Retention(store: store, clock: clock, schedule: schedule, gateway: "gw-1")
        let second = Retention(store: store, clock: clock, schedule: schedule, gateway: "gw-2")
        #expect(try await first.runIfDue() == nil, "not before 02:30")
        #expect(first.nextRun(after: clock.now()) == Self.beforeRun.addingTimeInterval(5_400))

        // The scheduler sleeps until 02:30, then runs.
        let scheduler = Task { try await RetentionScheduler(retention: first, logger: Logger(label: "test")).run() }
        defer { scheduler.cancel() }
        while clock.sleeperCount == 0 { try await Task.sleep(for: .milliseconds(5)) }
        clock.advance(by: 5_460)
        var last: RetentionRun?
        for _ in 0..<400 where last?.finishedAt == nil {
            last = await store.lastRetentionRun()
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(last?.day == "2026-12-07" && last?.gateway == "gw-1" && last?.pruned == 1)
        #expect(await store.loopReferral(old) == nil)
        #expect(await store.loopReferral(recent) != nil)
        #expect(try await second.runIfDue() == nil, "another gateway ran today's")
        let pruned = await store.auditEvents(afterSequence: 0, limit: 100).filter { $0.kind == "referrals.pruned" }
        #expect(pruned.map(\.actor) == ["retention schedule (gw-1)"])
        #expect(first.nextRun(after: clock.now()) == Self.beforeRun.addingTimeInterval(5_400 + 86_400), "then tomorrow's")
    }

    @Test func aGatewayThatWasDownAtRunTimeRunsThatDaysAtItsNextStart() async throws {
        let clock = ManualClock(now: Self.beforeRun.addingTimeInterval(12 * 3_600))
        let store = InMemoryStore()
        _ = try await closedReferral(store, at: Self.beforeRun.addingTimeInterval(-40 * 86_400))
        let retention = Retention(store: store, clock: clock, schedule: RetentionSchedule(closedAfterDays: 30), gateway: "late")
        #expect(try await retention.runIfDue()?.pruned == 1)
        #expect(try await retention.runIfDue() == nil)
        #expect(try await Retention(store: store, clock: clock, schedule: nil, gateway: "off").runIfDue() == nil)
    }
}
