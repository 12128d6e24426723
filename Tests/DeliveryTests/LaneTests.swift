import AdapterKit
import Audit
import Foundation
import JSONWebhookAdapter
import Logging
import ReferralModel
import ServiceLifecycle
import Storage
import SwitchboardTesting
import Synchronization
import Testing
import Transport

@testable import Delivery

/// Circuit breaking, disabling and pausing, decided over the in-memory store, a scripted transport
/// and a clock the test moves.
@Suite struct CircuitBreakerTests {
    static let breaker = CircuitPolicy(failuresToOpen: 3, coolDown: 30, maximumCoolDown: 100, disableAfter: 3_600)

    @Test func failuresInARowOpenTheCircuitAndWaitingUsesNoAttempts() async throws {
        let failing = Atomic<Bool>(true)
        let transport = ScriptedTransport { _, _ in
            failing.load(ordering: .relaxed) ? .respond(status: 503) : .respond(status: 202)
        }
        let harness = try DispatcherHarness(
            retry: RetryPolicy(maxAttempts: 10, initialBackoff: 1, maxBackoff: 1), circuit: Self.breaker, transport: transport)
        var ids: [ReferralID] = []
        for _ in 0..<5 { ids.append(try await harness.submit()) }
        // One lease takes all five; the third failure in a row opens the circuit.
        #expect(try await harness.attemptDue().count == 5)
        #expect(harness.lane?.circuit == .open)
        #expect(harness.lane?.reopensAt == harness.clock.now().addingTimeInterval(30))
        // While open nothing is sent, however long the jobs have been due.
        harness.clock.advance(by: 29)
        #expect(try await harness.attemptDue().isEmpty)
        #expect(harness.transport.requests.count == 5)
        // After the rest one delivery probes; it fails, and the rest doubles.
        harness.clock.advance(by: 1)
        #expect(try await harness.attemptDue().count == 1)
        #expect(harness.lane?.circuit == .open)
        #expect(harness.lane?.reopensAt == harness.clock.now().addingTimeInterval(60))
        // The agency recovers: the next probe closes the circuit and the rest flow.
        failing.store(false, ordering: .relaxed)
        harness.clock.advance(by: 60)
        #expect(try await harness.attemptDue().count == 1)
        #expect(harness.lane?.circuit == .closed)
        #expect(try await harness.attemptDue().count == 4)
        for id in ids {
            let delivery = try await harness.report(id).deliveries[0]
            #expect(delivery.state == .delivered)
            #expect(delivery.attempts <= 3, "waiting behind the open circuit used no attempts")
        }
    }

    @Test func failingEveryOtherAttemptOpensTheCircuitByItsFailureRate() async throws {
        let transport = ScriptedTransport { _, index in index % 2 == 1 ? .respond(status: 502) : .respond(status: 202) }
        let harness = try DispatcherHarness(
            retry: RetryPolicy(maxAttempts: 10, initialBackoff: 1, maxBackoff: 1),
            circuit: CircuitPolicy(failuresToOpen: 5, coolDown: 30, maximumCoolDown: 60, disableAfter: 86_400, failureRate: 0.5, window: 10),
            transport: transport)
        for _ in 0..<9 { try await harness.submit() }
        _ = try await harness.attemptDue()
        #expect(harness.lane?.circuit == .closed, "nine attempts do not fill the window of ten")
        try await harness.submit()
        _ = try await harness.attemptDue()
        #expect(harness.lane?.circuit == .open, "five of the last ten failed, never two in a row")
        let opened = await harness.store.laneStates()
        #expect(opened.isEmpty, "the harness does not run the dispatcher's store loop; the lane holds the state")
    }

    @Test func refusalsOfOneRequestDoNotOpenTheCircuit() async throws {
        let harness = try DispatcherHarness(circuit: Self.breaker, answer: .respond(status: 422))
        for _ in 0..<5 { try await harness.submit() }
        #expect(try await harness.attemptDue().count == 5)
        #expect(harness.lane?.circuit == .closed, "the agency answered: it is up")
    }

    @Test func goneDisablesTheAgencyAndItsJobsWaitForAnOperator() async throws {
        let gone = Atomic<Bool>(true)
        let transport = ScriptedTransport { _, _ in gone.load(ordering: .relaxed) ? .respond(status: 410) : .respond(status: 202) }
        let harness = try DispatcherHarness(circuit: Self.breaker, transport: transport)
        let first = try await harness.submit()
        #expect(try await harness.attemptDue().count == 1)
        #expect(harness.lane?.disabled?.by == "dispatcher")
        let second = try await harness.submit()
        harness.clock.advance(by: 86_400 * 30)
        #expect(try await harness.attemptDue().isEmpty, "a disabled agency is sent nothing")
        for id in [first, second] {
            let delivery = try await harness.report(id).deliveries[0]
            #expect(delivery.state == .pending, "its jobs stay queued, never dropped")
        }
        gone.store(false, ordering: .relaxed)
        _ = try await harness.dispatcher.resume(agency: "spa", by: "ops-key")
        #expect(harness.lane?.disabled == nil)
        #expect(try await harness.attemptDue().count == 2)
        #expect(try await harness.report(first).deliveries[0].state == .delivered)
        let events = await harness.store.auditEvents(afterSequence: 0, limit: 100).map(\.kind)
        #expect(events.contains("agency.resumed"))
    }

    @Test func failingEveryAttemptForTheConfiguredPeriodDisablesTheAgency() async throws {
        let harness = try DispatcherHarness(
            retry: RetryPolicy(maxAttempts: 1000, initialBackoff: 600, maxBackoff: 600),
            circuit: CircuitPolicy(failuresToOpen: 1000, coolDown: 30, maximumCoolDown: 100, disableAfter: 3_600),
            answer: .fail(.couldNotConnect, message: "Connection refused"))
        let id = try await harness.submit()
        for _ in 0..<6 {
            _ = try await harness.attemptDue()
            harness.clock.advance(by: 600)
        }
        #expect(harness.lane?.disabled == nil, "not yet an hour of failure")
        _ = try await harness.attemptDue()
        #expect(harness.lane?.disabled != nil)
        #expect(try await harness.report(id).deliveries[0].state == .pending)
    }

    @Test func aPausedAgencyIsSentNothingUntilResumedAndBothAreAudited() async throws {
        let harness = try DispatcherHarness(answer: .respond(status: 202))
        _ = try await harness.dispatcher.pause(agency: "spa", reason: "case system upgrade", by: "ops-key")
        let id = try await harness.submit()
        harness.clock.advance(by: 3_600)
        #expect(try await harness.attemptDue().isEmpty)
        #expect(try await harness.dispatcher.pause(agency: "nobody", reason: nil, by: "ops-key") == nil)
        _ = try await harness.dispatcher.resume(agency: "spa", by: "ops-key")
        #expect(try await harness.attemptDue().count == 1)
        #expect(try await harness.report(id).deliveries[0].attempts == 1)
        let events = await harness.store.auditEvents(afterSequence: 0, limit: 100)
        #expect(events.map(\.kind).filter { $0.hasPrefix("agency.") } == ["agency.paused", "agency.resumed"])
        #expect(events.first { $0.kind == "agency.paused" }?.actor == "ops-key")
        #expect(await harness.store.laneStates().first?.paused == nil, "the stored state follows")
    }

    @Test func aRedirectIsNotFollowedAndNamesWhereItPointed() async throws {
        let harness = try DispatcherHarness(
            answer: .respond(status: 302, headers: [("Location", "https://elsewhere.example/in/Margaret-Testperson?token=secret")]))
        let id = try await harness.submit()
        _ = try await harness.attemptDue()
        let delivery = try await harness.report(id).deliveries[0]
        #expect(delivery.state == .deadLettered)
        #expect(delivery.lastError?.contains("redirected to https://elsewhere.example;") == true)
        #expect(delivery.lastError?.contains("secret") == false, "the query is left out")
        #expect(delivery.lastError?.contains("Margaret") == false, "and the path, which may carry anything")
        #expect(harness.transport.requests.count == 1)
    }
}

/// How lanes share the global cap.
@Suite struct LaneBookTests {
    func target(_ agency: AgencyID, concurrency: Int) throws -> DeliveryTarget {
        let setup = AdapterSetup(configDirectory: URL(fileURLWithPath: "/tmp"), agencyId: agency.rawValue)
        return DeliveryTarget(
            agencyId: agency, endpoint: "http://agency.test", adapter: try JSONWebhookAdapter(setup: setup), signer: nil,
            concurrency: concurrency)
    }

    @Test func slotsAreHandedOutInTurnsUnderTheGlobalCap() throws {
        var book = LaneBook(targets: [try target("a", concurrency: 8), try target("b", concurrency: 2), try target("c", concurrency: 8)], stored: [])
        let now = Date()
        let demands = book.demands(now: now, globalFree: 7).demands
        #expect(Dictionary(uniqueKeysWithValues: demands.map { ($0.agency, $0.limit) }) == ["a": 3, "b": 2, "c": 2])
        #expect(demands.first { $0.agency == "b" }?.limit == 2, "no lane gets more than its own concurrency")
        #expect(demands.reduce(0) { $0 + $1.limit } == 7)
        for _ in 0..<8 { book.started(agency: "a") }
        let rest = book.demands(now: now, globalFree: 20).demands
        #expect(rest.first { $0.agency == "a" } == nil, "a full lane asks for nothing")
        #expect(rest.first { $0.agency == "c" }?.limit == 8)
        #expect(rest.first { $0.agency == "b" }?.limit == 2)
    }

    @Test func leasesOutliveTheAgencysTimeouts() throws {
        let setup = AdapterSetup(configDirectory: URL(fileURLWithPath: "/tmp"), agencyId: "slow")
        let slow = DeliveryTarget(
            agencyId: "slow", endpoint: "http://agency.test", adapter: try JSONWebhookAdapter(setup: setup), signer: nil, connectTimeout: 10,
            totalTimeout: 600)
        #expect(slow.leaseDuration > 610)
        #expect(try target("quick", concurrency: 1).leaseDuration == 120)
    }
}

/// The dispatcher's own loop over real time: a silent agency holds only its own lane.
@Suite struct LaneIsolationTests {
    @Test func aSilentAgencyDoesNotHoldUpAHealthyOne() async throws {
        let transport = ScriptedTransport { request, _ in
            request.url.contains("silent") ? .after(.seconds(60), .fail(.timedOut, message: "Operation timed out")) : .respond(status: 202)
        }
        let store = InMemoryStore()
        let setup = { (agency: String) in AdapterSetup(configDirectory: URL(fileURLWithPath: "/tmp"), agencyId: agency) }
        let targets = [
            DeliveryTarget(
                agencyId: "silent", endpoint: "http://silent.test", adapter: try JSONWebhookAdapter(setup: setup("silent")), signer: nil,
                concurrency: 4),
            DeliveryTarget(
                agencyId: "healthy", endpoint: "http://healthy.test", adapter: try JSONWebhookAdapter(setup: setup("healthy")), signer: nil,
                concurrency: 4),
        ]
        let dispatcher = Dispatcher(
            queue: store, targets: targets, transport: transport, configuration: .init(concurrency: 16, idlePoll: 0.05),
            logger: Logger(label: "test"))
        let now = Date()
        for index in 0..<40 {
            let id = ReferralID.make(now: now)
            _ = await store.accept(
                IntakeRecord(
                    referralId: id, receivedAt: now, actor: "gp", referral: ExampleReferrals.complete, rulesVersion: "v",
                    deliveries: [
                        NewDelivery(route: Route(agency: index < 30 ? "silent" : "healthy", rule: "r", deliveryId: DeliveryID.make(now: now)))
                    ], audit: [],
                    idempotency: nil))
        }
        let group = ServiceGroup(configuration: .init(services: [.init(service: dispatcher)], logger: Logger(label: "test")))
        let running = Task { try await group.run() }
        let started = ContinuousClock.now
        var delivered = 0
        // A bound for a loaded machine, not a speed target: the silent agency's attempts take 60 s, so
        // any healthy delivery before then went past them. In a full parallel run the tests' two
        // threads are shared by hundreds of others, and 30 s was sometimes not enough.
        while delivered < 10, started.duration(to: .now) < .seconds(58) {
            try await Task.sleep(for: .milliseconds(20))
            // An agency with nothing pending or dead has no row.
            delivered = 10 - (await store.queueCounts(now: Date()).first { $0.agency == "healthy" }?.pending ?? 0)
        }
        #expect(delivered == 10, "every healthy delivery arrived while the silent agency held its own four slots")
        let silentSent = transport.requests.filter { $0.url.contains("silent") }.count
        #expect(silentSent == 4, "the silent agency never had more than its lane's slots")
        // Cancelling ends the silent attempts at once, instead of waiting out their 60 s.
        running.cancel()
        _ = try? await running.value
    }
}

/// Lane state outlives the process that set it.
@Suite struct LaneStateRestartTests {
    @Test func anOpenCircuitIsStoredAuditedAndStillOpenAfterARestart() async throws {
        let store = InMemoryStore()
        let setup = AdapterSetup(configDirectory: URL(fileURLWithPath: "/tmp"), agencyId: "spa")
        let target = DeliveryTarget(
            agencyId: "spa", endpoint: "http://agency.test", adapter: try JSONWebhookAdapter(setup: setup), signer: nil,
            retry: RetryPolicy(maxAttempts: 10, initialBackoff: 600, maxBackoff: 600),
            circuit: CircuitPolicy(failuresToOpen: 2, coolDown: 3_600, maximumCoolDown: 3_600, disableAfter: 86_400))
        let first = Dispatcher(
            queue: store, targets: [target], transport: ScriptedTransport(always: .respond(status: 503)),
            configuration: .init(concurrency: 4, idlePoll: 0.02), logger: Logger(label: "test"))
        let now = Date()
        for _ in 0..<3 {
            _ = await store.accept(
                IntakeRecord(
                    referralId: ReferralID.make(now: now), receivedAt: now, actor: "gp", referral: ExampleReferrals.complete, rulesVersion: "v",
                    deliveries: [NewDelivery(route: Route(agency: "spa", rule: "r", deliveryId: DeliveryID.make(now: now)))], audit: [],
                    idempotency: nil))
        }
        let group = ServiceGroup(configuration: .init(services: [.init(service: first)], logger: Logger(label: "test")))
        let running = Task { try await group.run() }
        let deadline = ContinuousClock.now + .seconds(20)
        while await store.laneStates().first?.circuit != .open, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(await store.laneStates().first?.circuit == .open, "stored by the dispatcher's own loop")
        #expect(await store.auditEvents(afterSequence: 0, limit: 100).contains { $0.kind == "circuit.opened" })

        // A new process over the same store: the circuit is still open, so nothing is leased.
        let second = Dispatcher(
            queue: store, targets: [target], transport: ScriptedTransport(always: .respond(status: 202)), logger: Logger(label: "test"))
        try await second.restoreLanes()
        #expect(second.lanes.first?.circuit == .open)
        #expect(second.book.withLock { $0.demands(now: Date(), globalFree: 4).demands }.isEmpty)
    }
}
