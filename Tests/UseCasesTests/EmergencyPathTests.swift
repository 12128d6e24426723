import AdapterKit
import Audit
import Foundation
import JSONWebhookAdapter
import Logging
import ReferralModel
import Routing
import Settings
import Storage
import SwitchboardTesting
import Testing
import Transport
import UseCases

@testable import Delivery

/// The emergency path from end to end on a clock the test moves: intake, a crisis team paused,
/// its alternative, the alternative's deadline, the attention list, and the alert to the on-call
/// system delivered by the real dispatcher (over a scripted transport), each step audited in order.
@Suite struct EmergencyPathTests {
    @Test func intakePausedLaneAlternativeDeadlineAttentionAlert() async throws {
        let clock = ManualClock(now: Date(timeIntervalSince1970: 1_796_205_600))
        let store = InMemoryStore()
        let agencies = safetyAgencies.replacingOccurrences(
            of: #"endpoint: "https://home.test/" }"#, with: #"endpoint: "https://home.test/", acknowledge: { when_missed: attention } }"#)
        let directory = try AgencyDirectory.parse(agencies, file: "agencies.yaml", adapters: ["json-webhook"])
        let rules = LiveRules(try RuleSet.parse(safetyRules, file: "rules.yaml", agencies: directory, vocabulary: .standard))
        let transport = ScriptedTransport { _, _ in .respond(status: 202) }
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        func target(_ id: AgencyID, _ endpoint: String) throws -> DeliveryTarget {
            DeliveryTarget(
                agencyId: id, endpoint: endpoint,
                adapter: try JSONWebhookAdapter(setup: AdapterSetup(configDirectory: URL(fileURLWithPath: "/"), agencyId: id.rawValue)),
                signer: WebhookSigner(secret: secret))
        }
        let targets = try directory.agencies.map { try target($0.id, $0.endpoint) } + [target(Alerts.lane, "https://oncall.test/hooks")]
        let dispatcher = Dispatcher(queue: store, targets: targets, transport: transport, clock: clock, logger: Logger(label: "test"))
        try await dispatcher.restoreLanes()
        let lanes = StoredLaneConditions(queue: store, clock: clock)
        let intake = ReferralIntake(decoder: ReferralDecoder(), rules: rules, store: store, clock: clock, lanes: lanes, alerts: Alerts())
        let loop = ReferralLoop(store: store, rules: rules, clock: clock, lanes: lanes, alerts: Alerts())
        func attemptDue() async {
            let now = clock.now()
            let demands = dispatcher.book.withLock { $0.demands(now: now, globalFree: 10).demands }
            let jobs = await store.leaseDueDeliveries(now: now, lanes: demands)
            dispatcher.book.withLock { book in
                for job in jobs { book.started(agency: job.agency) }
            }
            for job in jobs { await dispatcher.deliver(job) }
        }

        // The crisis team is paused by an operator; an emergency arrives.
        _ = try await dispatcher.pause(agency: "crisis", reason: "planned upgrade", by: "ops")
        let body = """
            {"referrer": {"organisation": "RNU", "name": "NHS 111 clinical advisor"},
             "subject": {"givenName": "Sam", "familyName": "Exampleton", "birthDate": "1994-06-21", "postcode": "OX1 2JD"},
             "needs": ["mental-health-crisis"], "urgency": "emergency", "reason": "Escalating distress.", "consent": {"status": "given"}}
            """
        let id = try await intake.submit(Array(body.utf8), actor: "gp", idempotencyKey: nil).receipt.id
        // Within seconds it is with the rule's alternative, not waiting on the paused team.
        await attemptDue()
        #expect(transport.requests.map(\.url) == ["https://home.test/"])
        // Nobody takes it on: an hour later it is in front of a person, and the on-call system is told.
        clock.advance(by: 3_599)
        #expect(try await loop.escalateDue() == 0)
        clock.advance(by: 2)
        #expect(try await loop.escalateDue() == 1)
        let item = try #require(try await loop.attention().first)
        #expect(item.urgency == .emergency && item.referralId == id)
        await attemptDue()
        let alert = try #require(transport.requests.last)
        #expect(alert.url == "https://oncall.test/hooks")
        #expect(alert.headers.contains { $0.name == "webhook-signature" })
        let event = try #require(try JSONSerialization.jsonObject(with: Data(alert.body)) as? [String: Any])
        #expect(event["type"] as? String == "attention.opened")
        let data = try #require(event["data"] as? [String: String])
        #expect(data["urgency"] == "emergency" && data["deliveryId"] == item.id && data["due"] == item.dueAt)
        #expect(!String(decoding: alert.body, as: UTF8.self).contains("Exampleton"), "an alert carries no personal data")

        // Each step is in the audit trail, in order.
        let events = try #require(await store.report(referralId: id)).history.map(\.event)
        let path = ["referral.routed", "referral.redirected", "delivery.delivered", "delivery.overdue", "attention.opened"]
        var position = events.startIndex
        for step in path {
            guard let found = events[position...].firstIndex(of: step) else {
                Issue.record("\(step) is not in the trail after \(events[..<position]): \(events)")
                return
            }
            position = found + 1
        }
        #expect(events.filter { $0 == "delivery.delivered" }.count == 2, "the alert's delivery is audited too")
    }
}
