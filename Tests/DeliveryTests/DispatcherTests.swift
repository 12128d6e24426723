import AdapterKit
import Audit
import Crypto
import Foundation
import JSONWebhookAdapter
import Logging
import Observability
import PortalAdapter
import ReferralModel
import ServiceLifecycle
import Storage
import SwitchboardTesting
import Synchronization
import Testing
import Transport

@testable import Delivery

/// An adapter whose render always fails, as a template with a mistake would.
struct BrokenAdapter: AgencyAdapter {
    struct RenderFailure: Error, CustomStringConvertible {
        var description: String { "the template names a field that does not exist" }
    }

    static let name = "broken"
    static let summary = "Cannot render."
    static let optionSpecs: [OptionSpec] = []
    let mappedFields = Set(ReferralField.allCases)
    init(setup: AdapterSetup) {}
    func render(_ referral: Referral, context: DeliveryContext) throws -> OutboundRequest { throw RenderFailure() }
}

func sampleReferral() throws -> Referral { ExampleReferrals.complete }

/// One agency, an in-memory queue, a scripted transport and a clock the test moves.
struct DispatcherHarness {
    let store = InMemoryStore()
    let clock = ManualClock()
    let transport: ScriptedTransport
    let dispatcher: Dispatcher
    let retry: RetryPolicy

    init(
        retry: RetryPolicy = RetryPolicy(maxAttempts: 3, initialBackoff: 2, maxBackoff: 60), adapter: (any AgencyAdapter)? = nil,
        circuit: CircuitPolicy = .init(), answer: ScriptedTransport.Answer, logger: Logger = Logger(label: "test"),
        metrics: GatewayMetrics? = nil
    ) throws {
        try self.init(
            retry: retry, adapter: adapter, circuit: circuit, transport: ScriptedTransport(always: answer), logger: logger, metrics: metrics)
    }

    init(
        retry: RetryPolicy = RetryPolicy(maxAttempts: 3, initialBackoff: 2, maxBackoff: 60), adapter: (any AgencyAdapter)? = nil,
        circuit: CircuitPolicy = .init(), transport: ScriptedTransport, logger: Logger = Logger(label: "test"),
        metrics: GatewayMetrics? = nil
    ) throws {
        self.retry = retry
        self.transport = transport
        let setup = AdapterSetup(configDirectory: URL(fileURLWithPath: "/tmp"), agencyId: "spa")
        var target = DeliveryTarget(
            agencyId: "spa", endpoint: "http://agency.test/referrals", adapter: try adapter ?? JSONWebhookAdapter(setup: setup),
            signer: WebhookSigner(secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), retry: retry, circuit: circuit)
        // These tests are about the retry mechanics, so every urgency retries on the policy given.
        target.urgentRetry = retry
        target.emergencyRetry = retry
        dispatcher = Dispatcher(
            queue: store, targets: [target], transport: transport, clock: clock, configuration: .init(concurrency: 4),
            logger: logger, metrics: DeliveryMetrics(factory: metrics?.factory))
    }

    /// Accepts one referral for the agency and returns its referral id.
    @discardableResult
    func submit() async throws -> ReferralID {
        let now = clock.now()
        let id = ReferralID.make(now: now)
        let record = IntakeRecord(
            referralId: id, receivedAt: now, actor: "gp", referral: try sampleReferral(), rulesVersion: "sha256:test",
            deliveries: [NewDelivery(route: Route(agency: "spa", rule: "r1", deliveryId: DeliveryID.make(now: now)))], audit: [], idempotency: nil)
        _ = await store.accept(record)
        return id
    }

    /// Leases what the lanes let through now and makes each attempt, as the dispatcher's loop does.
    func attemptDue() async throws -> [LeasedDelivery] {
        let now = clock.now()
        let demands = dispatcher.book.withLock { $0.demands(now: now, globalFree: 10).demands }
        let jobs = await store.leaseDueDeliveries(now: now, lanes: demands)
        dispatcher.book.withLock { book in
            for job in jobs { book.started(agency: job.agency) }
        }
        for job in jobs { await dispatcher.deliver(job) }
        return jobs
    }

    /// Leases one due job for the agency, bypassing its lane, as a second worker would.
    func leaseDirectly() async -> LeasedDelivery? {
        await store.leaseDueDeliveries(now: clock.now(), lanes: [LaneDemand(agency: "spa", limit: 1, leaseDuration: 60)]).first
    }

    var lane: AgencyLaneState? { dispatcher.lanes.first }

    func report(_ id: ReferralID) async throws -> ReferralReport {
        try #require(await store.report(referralId: id))
    }

    func auditKinds(_ id: ReferralID) async throws -> [String] {
        try await report(id).history.map(\.event)
    }
}

@Suite struct DispatcherTests {
    @Test func aDeliveryIsSignedRenderedAndRecorded() async throws {
        let harness = try DispatcherHarness(answer: .respond(status: 202, body: #"{"reference":"SPA-1"}"#))
        let id = try await harness.submit()
        _ = try await harness.attemptDue()
        let request = try #require(harness.transport.requests.first)
        #expect(request.url == "http://agency.test/referrals")
        let headers = Dictionary(request.headers.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
        #expect(headers["webhook-id"] == (try await harness.report(id)).deliveries[0].deliveryId.rawValue)
        #expect(headers["webhook-timestamp"] == String(Int(harness.clock.now().timeIntervalSince1970)))
        #expect(headers["webhook-signature"]?.hasPrefix("v1,") == true)
        let report = try await harness.report(id)
        #expect(report.deliveries[0].state == .delivered)
        #expect(report.deliveries[0].deliveredAt == Timestamp.string(harness.clock.now()))
        #expect(try await harness.auditKinds(id) == ["delivery.attempted", "delivery.delivered"])
    }

    @Test func anAgencyOnThePortalGetsItInItsInboxAndNothingIsSent() async throws {
        let setup = AdapterSetup(configDirectory: URL(fileURLWithPath: "/tmp"), agencyId: "spa")
        let harness = try DispatcherHarness(adapter: try PortalAdapter(setup: setup), answer: .respond(status: 500, body: ""))
        let id = try await harness.submit()
        _ = try await harness.attemptDue()
        #expect(harness.transport.requests.isEmpty, "an agency without a system is sent nothing")
        let report = try await harness.report(id)
        #expect(report.deliveries[0].state == .delivered)
        #expect(try await harness.auditKinds(id) == ["delivery.attempted", "delivery.delivered"])
        #expect(await harness.dispatcher.ping(agency: "spa")?.detail?.contains("web inbox") == true)
        #expect(harness.transport.requests.isEmpty, "a test delivery to the inbox sends nothing either")
    }

    @Test func anAgencySystemThatTakesItOnInItsReplyReachesAccepted() async throws {
        let harness = try DispatcherHarness(answer: .respond(status: 201, body: #"{"reference":"SPA-2","status":"accepted"}"#))
        let id = try await harness.submit()
        _ = try await harness.attemptDue()
        let report = try await harness.report(id)
        #expect(report.deliveries[0].state == .accepted)
        #expect(report.deliveries[0].answeredAt == Timestamp.string(harness.clock.now()))
        #expect(report.status == .accepted)
        #expect(try await harness.auditKinds(id) == ["delivery.attempted", "delivery.delivered", "referral.accepted"])
    }

    @Test func aNoticeIsRenderedWithoutTheReferral() async throws {
        let context = DeliveryContext(
            deliveryId: "01a20000-0000-7000-8000-000000000009", referralId: "01a20000-0000-7000-8000-000000000002", agencyId: "spa",
            rule: "cancellation",
            receivedAt: Date(timeIntervalSince1970: 1_795_000_000))
        let adapter = try JSONWebhookAdapter(setup: AdapterSetup(configDirectory: URL(fileURLWithPath: "/tmp"), agencyId: "spa"))
        let request = try adapter.renderNotice(
            ReferralNotice(type: "referral.cancelled", about: "01a20000-0000-7000-8000-000000000001"), context: context)
        let body = try #require(try JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any])
        #expect(body["type"] as? String == "referral.cancelled")
        #expect(body["data"] as? [String: String] == ["referralId": context.referralId, "deliveryId": "01a20000-0000-7000-8000-000000000001"])
    }

    @Test func retriesFollowTheBackoffWithinItsJitterBounds() async throws {
        let retry = RetryPolicy(maxAttempts: 5, initialBackoff: 2, maxBackoff: 60)
        let harness = try DispatcherHarness(retry: retry, answer: .respond(status: 503))
        let id = try await harness.submit()
        for attempt in 1...4 {
            let before = harness.clock.now()
            #expect(try await harness.attemptDue().count == 1)
            let delivery = try await harness.report(id).deliveries[0]
            #expect(delivery.state == .pending)
            #expect(delivery.lastError == "HTTP 503")
            // Full jitter in [0, base] (at least 50 ms), base = 2 × 2^(attempt-1), capped at 60.
            let base = min(60, 2 * pow(2, Double(attempt - 1)))
            let next = try #require(await harness.store.nextDueDate(agencies: ["spa"])).timeIntervalSince(before)
            #expect(next >= 0.05 - 0.001 && next <= base + 0.001, "attempt \(attempt): next in \(next) s, base \(base)")
            // Nothing is due until then.
            #expect(try await harness.attemptDue().isEmpty)
            harness.clock.advance(by: next)
        }
    }

    @Test func theLastAttemptDeadLettersWithTheReason() async throws {
        let harness = try DispatcherHarness(
            retry: RetryPolicy(maxAttempts: 2, initialBackoff: 1, maxBackoff: 1),
            answer: .fail(.couldNotConnect, message: "Couldn't connect to server"))
        let id = try await harness.submit()
        _ = try await harness.attemptDue()
        harness.clock.advance(by: 1)
        _ = try await harness.attemptDue()
        let delivery = try await harness.report(id).deliveries[0]
        #expect(delivery.state == .deadLettered)
        #expect(delivery.lastError == "transport: Couldn't connect to server; gave up after 2 attempts")
        #expect(try await harness.auditKinds(id) == ["delivery.attempted", "delivery.attempted", "delivery.dead-lettered"])
        harness.clock.advance(by: 3_600)
        #expect(try await harness.attemptDue().isEmpty, "a dead letter is not tried again")
    }

    @Test func retryAfterIsHonouredAndCapped() async throws {
        let retry = RetryPolicy(maxAttempts: 5, initialBackoff: 1, maxBackoff: 120)
        let asked = try DispatcherHarness(retry: retry, answer: .respond(status: 429, headers: [("Retry-After", "90")]))
        try await asked.submit()
        _ = try await asked.attemptDue()
        #expect(try #require(await asked.store.nextDueDate(agencies: ["spa"])).timeIntervalSince(asked.clock.now()) == 90)
        let greedy = try DispatcherHarness(retry: retry, answer: .respond(status: 503, headers: [("Retry-After", "86400")]))
        try await greedy.submit()
        _ = try await greedy.attemptDue()
        #expect(try #require(await greedy.store.nextDueDate(agencies: ["spa"])).timeIntervalSince(greedy.clock.now()) == 120, "capped at max_backoff")
    }

    @Test func anAgencysErrorReplyIsKeptForAdministratorsAndNeverLoggedOrAudited() async throws {
        let personal = ["Margaret", "Testperson", "999 765 4323"]
        let outcome =
            #"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid","diagnostics":"Margaret Testperson (NHS 999 765 4323) is not known here"}]}"#
        let log = RecordingLogHandler.Lines()
        let harness = try DispatcherHarness(
            retry: RetryPolicy(maxAttempts: 2, initialBackoff: 1, maxBackoff: 1),
            answer: .respond(status: 503, body: outcome), logger: log.logger())
        let id = try await harness.submit()
        _ = try await harness.attemptDue()
        harness.clock.advance(by: 1)
        _ = try await harness.attemptDue()
        let report = try await harness.report(id)
        let delivery = report.deliveries[0]
        #expect(delivery.state == .deadLettered)
        // The referrer's view, the trail and the log name the status, the size and a digest.
        let digest = SHA256.hash(data: Array(outcome.utf8)).prefix(6).map { String(format: "%02x", $0) }.joined()
        #expect(delivery.lastError == "HTTP 503 (reply \(outcome.utf8.count) bytes, sha256:\(digest)); gave up after 2 attempts")
        let trail = report.history.compactMap(\.detail).joined(separator: "\n")
        #expect(trail.contains("sha256:\(digest)"))
        #expect(log.text.contains("sha256:\(digest)"))
        for text in personal {
            #expect(!trail.contains(text) && !(delivery.lastError ?? "").contains(text) && !log.text.contains(text), "\(text) leaked")
        }
        // Administrators see what the agency said, as it said it.
        let letters = await harness.store.deadLetters(agency: "spa", limit: 10)
        #expect(letters.first?.agencyReply == outcome)
    }

    @Test func eachAttemptIsCountedByAgencyAndOutcomeWithItsLatency() async throws {
        let metrics = GatewayMetrics()
        let harness = try DispatcherHarness(
            retry: RetryPolicy(maxAttempts: 2, initialBackoff: 1, maxBackoff: 1), answer: .respond(status: 503), metrics: metrics)
        try await harness.submit()
        _ = try await harness.attemptDue()
        harness.clock.advance(by: 1)
        _ = try await harness.attemptDue()
        let text = String(decoding: metrics.render(), as: UTF8.self)
        #expect(text.contains(#"switchboard_delivery_attempts_total{agency="spa",outcome="retry"} 1"#), "\(text)")
        #expect(text.contains(#"switchboard_delivery_attempts_total{agency="spa",outcome="dead-lettered"} 1"#))
        #expect(text.contains(#"switchboard_delivery_duration_seconds_count{agency="spa"} 2"#))
    }

    @Test func aPermanentRefusalDeadLettersAtOnce() async throws {
        let harness = try DispatcherHarness(answer: .respond(status: 422))
        let id = try await harness.submit()
        _ = try await harness.attemptDue()
        let delivery = try await harness.report(id).deliveries[0]
        #expect(delivery.state == .deadLettered)
        #expect(delivery.attempts == 1)
        #expect(delivery.lastError == "HTTP 422: the agency refused the request")
    }

    @Test func anAdapterThatCannotRenderDeadLettersWithTheReasonAndSendsNothing() async throws {
        let harness = try DispatcherHarness(
            adapter: BrokenAdapter(setup: AdapterSetup(configDirectory: URL(fileURLWithPath: "/"), agencyId: "spa")), answer: .respond(status: 202))
        let id = try await harness.submit()
        _ = try await harness.attemptDue()
        #expect(harness.transport.requests.isEmpty)
        let delivery = try await harness.report(id).deliveries[0]
        #expect(delivery.state == .deadLettered)
        #expect(delivery.lastError == "the broken adapter could not render the referral: the template names a field that does not exist")
    }

    @Test func aWorkerThatLostItsLeaseWritesNothing() async throws {
        let harness = try DispatcherHarness(answer: .respond(status: 202))
        let id = try await harness.submit()
        let stale = try #require(await harness.leaseDirectly())
        // The worker stalls past its lease; another takes the job.
        harness.clock.advance(by: 61)
        let rescued = try #require(await harness.leaseDirectly())
        await harness.dispatcher.deliver(stale)
        let afterStale = try await harness.report(id)
        #expect(afterStale.deliveries[0].state == .pending, "the stale worker's success is not recorded")
        #expect(afterStale.history.isEmpty, "nor its audit events")
        await harness.dispatcher.deliver(rescued)
        #expect(try await harness.report(id).deliveries[0].state == .delivered)
    }

    @Test func shutdownFinishesTheAttemptsInFlight() async throws {
        let harness = try DispatcherHarness(answer: .respond(status: 202))
        harness.transport.hold()
        let id = try await harness.submit()
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: harness.dispatcher)], logger: Logger(label: "test")))
        let finished = Atomic<Bool>(false)
        let running = Task {
            try await group.run()
            finished.store(true, ordering: .relaxed)
        }
        while harness.transport.requests.isEmpty { try await Task.sleep(for: .milliseconds(5)) }
        await group.triggerGracefulShutdown()
        try await Task.sleep(for: .milliseconds(100))
        let finishedEarly = finished.load(ordering: .relaxed)
        #expect(!finishedEarly, "the dispatcher waits for its attempt in flight")
        harness.transport.release()
        try await running.value
        #expect(try await harness.report(id).deliveries[0].state == .delivered)
        #expect(harness.transport.requests.count == 1)
    }
}

@Suite struct MinimumNecessaryTests {
    @Test func anAgencyIsSentOnlyTheNeedsThatRoutedTheReferralToIt() async throws {
        let harness = try DispatcherHarness(answer: .respond(status: 202))
        let now = harness.clock.now()
        let id = ReferralID.make(now: now)
        let delivery = DeliveryID.make(now: now)
        let record = IntakeRecord(
            referralId: id, receivedAt: now, actor: "gp", referral: try sampleReferral(), rulesVersion: "v",
            deliveries: [NewDelivery(route: Route(agency: "spa", rule: "r1", deliveryId: delivery), needs: ["reablement"])], audit: [],
            idempotency: nil)
        _ = await harness.store.accept(record)
        _ = try await harness.attemptDue()
        let body = try #require(harness.transport.requests.first?.body)
        let envelope = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
        let sent = try #require((envelope["data"] as? [String: Any])?["referral"] as? [String: Any])
        #expect(ExampleReferrals.complete.needs == ["falls-prevention", "reablement"])
        #expect(sent["needs"] as? [String] == ["reablement"])
    }
}

@Suite struct RetryPolicyTests {
    @Test func backoffDoublesWithJitterAndIsCapped() {
        let policy = RetryPolicy(maxAttempts: 10, initialBackoff: 2, maxBackoff: 60)
        #expect(policy.backoff(afterAttempt: 1, random: 1) == 2)
        #expect(policy.backoff(afterAttempt: 1, random: 0.5) == 1)
        #expect(policy.backoff(afterAttempt: 1, random: 0) == 0.05, "full jitter, with a floor")
        #expect(policy.backoff(afterAttempt: 3, random: 1) == 8)
        #expect(policy.backoff(afterAttempt: 30, random: 1) == 60)
        #expect(policy.delay(afterAttempt: 1, retryAfter: 30, random: 1) == 30)
        #expect(policy.delay(afterAttempt: 1, retryAfter: 3_600, random: 1) == 60)
        #expect(policy.delay(afterAttempt: 3, retryAfter: 1, random: 1) == 8)
    }
}
