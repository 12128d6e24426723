import AdapterKit
import Audit
import Foundation
import JSONWebhookAdapter
import Logging
import ReferralModel
import Storage
import SwitchboardTesting
import Synchronization
import Testing
import Transport

@testable import Delivery

/// A delivery queue over the in-memory store whose `finish` fails as a database that went away
/// does, until the test brings it back.
final class OutageQueue: DeliveryQueue {
    let store = InMemoryStore()
    let down = Atomic<Bool>(false)
    let refused = Atomic<Int>(0)

    func leaseDueDeliveries(now: Date, lanes: [LaneDemand]) async throws -> [LeasedDelivery] {
        await store.leaseDueDeliveries(now: now, lanes: lanes)
    }
    func finish(_ completions: [DeliveryCompletion]) async throws -> [Bool] {
        if down.load(ordering: .relaxed) {
            refused.wrappingAdd(1, ordering: .relaxed)
            throw StoreUnavailable("the database server cannot be reached")
        }
        return await store.finish(completions)
    }
    func nextDueDate(agencies: [AgencyID]) async throws -> Date? { await store.nextDueDate(agencies: agencies) }
    func laneStates() async throws -> [AgencyLaneState] { await store.laneStates() }
    func saveLaneState(_ state: AgencyLaneState, audit: [AuditEntry]) async throws { await store.saveLaneState(state, audit: audit) }
    func queueCounts(now: Date) async throws -> [LaneCounts] { await store.queueCounts(now: now) }
    func referralsRouted(since: Date) async throws -> [AgencyID: Int] { await store.referralsRouted(since: since) }
    func deadLetters(agency: AgencyID?, limit: Int) async throws -> [DeadLetter] { await store.deadLetters(agency: agency, limit: limit) }
    func requeue(_ selection: DeadLetterSelection, now: Date, audit: @escaping @Sendable (DeadLetter) -> AuditEntry) async throws
        -> [DeadLetter]
    { await store.requeue(selection, now: now, audit: audit) }
}

@Suite struct RecordingThroughOutageTests {
    /// An agency took the referral, and then the database went away before the result was
    /// written. When it is back the result is written: the delivery is delivered, and the agency
    /// is not sent the referral a second time when the lease would have run out.
    @Test func aResultThatCouldNotBeRecordedIsRecordedWhenTheStoreIsBack() async throws {
        let queue = OutageQueue()
        let transport = ScriptedTransport(always: .respond(status: 202, body: #"{"reference":"SPA-1"}"#))
        let target = DeliveryTarget(
            agencyId: "spa", endpoint: "http://agency.test/referrals",
            adapter: try JSONWebhookAdapter(setup: AdapterSetup(configDirectory: URL(fileURLWithPath: "/tmp"), agencyId: "spa")),
            signer: WebhookSigner(secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
        let clock = ManualClock()
        let dispatcher = Dispatcher(queue: queue, targets: [target], transport: transport, clock: clock, logger: Logger(label: "test"))
        let now = clock.now()
        let id = ReferralID.make(now: now)
        _ = await queue.store.accept(
            IntakeRecord(
                referralId: id, receivedAt: now, actor: "gp", referral: ExampleReferrals.complete, rulesVersion: "sha256:test",
                deliveries: [NewDelivery(route: Route(agency: "spa", rule: "r1", deliveryId: DeliveryID.make(now: now)))], audit: [],
                idempotency: nil))
        let job = try #require(await queue.leaseDueDeliveries(now: now, lanes: [LaneDemand(agency: "spa", limit: 1, leaseDuration: 60)]).first)
        queue.down.store(true, ordering: .relaxed)
        let attempt = Task { await dispatcher.deliver(job) }
        // The attempt was made; its result waits while the store refuses it.
        for _ in 0..<100 where queue.refused.load(ordering: .relaxed) < 3 { try await Task.sleep(for: .milliseconds(50)) }
        #expect(queue.refused.load(ordering: .relaxed) >= 3, "the result is tried again while the store refuses it")
        #expect(transport.requests.count == 1)
        #expect(try #require(await queue.store.report(referralId: id)).deliveries[0].state == .pending)
        queue.down.store(false, ordering: .relaxed)
        await attempt.value
        let delivery = try #require(await queue.store.report(referralId: id)).deliveries[0]
        #expect(delivery.state == .delivered)
        #expect(delivery.attempts == 1)
        // Nothing is due again: the lease was given up with the result, so no second attempt.
        clock.advance(by: 3600)
        #expect(try await queue.leaseDueDeliveries(now: clock.now(), lanes: [LaneDemand(agency: "spa", limit: 1, leaseDuration: 60)]).isEmpty)
        #expect(transport.requests.count == 1)
    }
}
