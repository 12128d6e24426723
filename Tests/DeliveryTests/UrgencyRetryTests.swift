import AdapterKit
import Foundation
import JSONWebhookAdapter
import Logging
import ReferralModel
import Storage
import SwitchboardTesting
import Testing
import Transport

@testable import Delivery

/// Retries by urgency: an emergency that cannot be delivered is given up within about two minutes,
/// so it escalates to the next agency and a person, where a routine one keeps trying for hours.
@Suite struct UrgencyRetryTests {
    /// Attempts an agency answering 503 gets for a referral of `urgency` on the default schedules,
    /// and the time from the first attempt to the dead letter.
    func attempts(_ urgency: Urgency, limit: Int = 30) async throws -> (count: Int, state: DeliveryState, span: TimeInterval) {
        let clock = ManualClock()
        let store = InMemoryStore()
        let transport = ScriptedTransport { _, _ in .respond(status: 503) }
        let target = DeliveryTarget(
            agencyId: "crisis", endpoint: "http://crisis.test/",
            adapter: try JSONWebhookAdapter(setup: AdapterSetup(configDirectory: URL(fileURLWithPath: "/"), agencyId: "crisis")), signer: nil,
            circuit: CircuitPolicy(failuresToOpen: 1_000))
        let dispatcher = Dispatcher(queue: store, targets: [target], transport: transport, clock: clock, logger: Logger(label: "test"))
        var referral = ExampleReferrals.complete
        referral.urgency = urgency
        let id = ReferralID.make(now: clock.now())
        _ = await store.accept(
            IntakeRecord(
                referralId: id, receivedAt: clock.now(), actor: "gp", referral: referral, rulesVersion: "v",
                deliveries: [NewDelivery(route: Route(agency: "crisis", rule: "r", deliveryId: DeliveryID.make(now: clock.now())))], audit: [],
                idempotency: nil))
        let first = clock.now()
        var count = 0
        while count < limit {
            let jobs = await store.leaseDueDeliveries(now: clock.now(), lanes: [LaneDemand(agency: "crisis", limit: 1, leaseDuration: 60)])
            for job in jobs {
                dispatcher.book.withLock { $0.started(agency: job.agency) }
                await dispatcher.deliver(job)
                count += 1
            }
            guard let next = await store.nextDueDate(agencies: ["crisis"]) else { break }
            clock.advance(by: max(0, next.timeIntervalSince(clock.now())))
        }
        let state = await store.report(referralId: id)?.deliveries.first?.state ?? .pending
        return (count, state, clock.now().timeIntervalSince(first))
    }

    @Test func anEmergencyIsGivenUpWithinAboutTwoMinutesAndARoutineOneKeepsTrying() async throws {
        let emergency = try await attempts(.emergency)
        #expect(emergency.count == 5 && emergency.state == .deadLettered)
        #expect(emergency.span <= 130, "10 + 20 + 40 + 60 s at most: \(emergency.span) s")
        let urgent = try await attempts(.urgent)
        #expect(urgent.count == 8 && urgent.state == .deadLettered)
        #expect(urgent.span <= 5 + 10 + 20 + 40 + 80 + 160 + 300)
        let routine = try await attempts(.routine, limit: 8)
        #expect(routine.count == 8 && routine.state == .pending, "a routine referral has twelve attempts, over hours")
    }
}
