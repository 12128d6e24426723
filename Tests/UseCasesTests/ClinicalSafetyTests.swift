import Audit
import Foundation
import ReferralModel
import Routing
import Settings
import Storage
import SwitchboardTesting
import Testing
import UseCases

/// Agencies for the clinical safety tests: a crisis team with an alternative, the council's front
/// door (the fallback), a befriending charity whose alternative is the front door, and a hub.
let safetyAgencies = """
    agencies:
      - { id: crisis, name: Crisis team, adapter: json-webhook, endpoint: "https://crisis.test/", vital_interests: true }
      - { id: home-treatment, name: Home treatment team, adapter: json-webhook, endpoint: "https://home.test/" }
      - { id: spa, name: Front door, adapter: json-webhook, endpoint: "https://spa.test/" }
      - { id: charity, name: Befriending, adapter: json-webhook, endpoint: "https://charity.test/" }
      - { id: mash, name: Safeguarding hub, adapter: json-webhook, endpoint: "https://mash.test/", safeguarding: true }
    """

let safetyRules = """
    rules:
      - { id: safeguarding, when: { safeguarding: true }, route_to: mash }
      - { id: crisis, when: { needs: mental-health-crisis }, route_to: crisis, alternatives: [home-treatment] }
      - { id: befriending, when: { needs: befriending }, route_to: charity, alternatives: [spa] }
    fallback: spa
    safeguarding_fallback: mash
    service_area: [OX]
    out_of_area: hold
    """

/// Intake and the closed loop over `safetyAgencies`, an in-memory store whose lane states routing
/// reads, a clock the test holds, a referrer with a callback and alerts for a person on call.
struct SafetyHarness {
    let store = InMemoryStore()
    let clock: ManualClock
    let rules: LiveRules
    let intake: ReferralIntake
    let loop: ReferralLoop

    init(now: Date = Date(timeIntervalSince1970: 1_796_205_600), alerts: Alerts? = Alerts()) throws {
        clock = ManualClock(now: now)
        let directory = try AgencyDirectory.parse(safetyAgencies, file: "agencies.yaml", adapters: ["json-webhook"])
        rules = LiveRules(try RuleSet.parse(safetyRules, file: "rules.yaml", agencies: directory, vocabulary: .standard))
        let lanes = StoredLaneConditions(queue: store, clock: clock)
        intake = ReferralIntake(decoder: ReferralDecoder(), rules: rules, store: store, clock: clock, lanes: lanes, alerts: alerts)
        loop = ReferralLoop(store: store, rules: rules, clock: clock, callbacks: ["gp"], lanes: lanes, alerts: alerts)
    }

    /// A referral from the example's crisis call, changed as given.
    func submit(needs: [String] = ["mental-health-crisis"], urgency: Urgency = .emergency, postcode: String = "OX1 2JD", extra: String = "")
        async throws -> ReferralID
    {
        let body = """
            {"referrer": {"organisation": "RNU", "name": "NHS 111 clinical advisor"},
             "subject": {"nhsNumber": "9990000026", "givenName": "Sam", "familyName": "Exampleton", "birthDate": "1994-06-21",
                         "postcode": "\(postcode)", "phone": "01865 000333"},
             "needs": [\(needs.map { "\"\($0)\"" }.joined(separator: ", "))], "urgency": "\(urgency.rawValue)",
             "reason": "Caller describes escalating distress and has asked for help today.", "consent": {"status": "given"}\(extra)}
            """
        return try await intake.submit(Array(body.utf8), actor: "gp", idempotencyKey: nil).receipt.id
    }

    func pause(_ agency: AgencyID) async {
        await store.saveLaneState(
            AgencyLaneState(agency: agency, paused: .init(reason: "planned upgrade", by: "ops", at: clock.now())), audit: [])
    }

    /// Every due job of these lanes delivered, as the dispatcher would record it.
    func deliverAll(_ agencies: [AgencyID] = ["crisis", "home-treatment", "spa", "charity", "mash"]) async {
        let leased = await store.leaseDueDeliveries(
            now: clock.now(), lanes: agencies.map { LaneDemand(agency: $0, limit: 100, leaseDuration: 30) })
        _ = await store.finish(leased.map { DeliveryCompletion(lease: $0, result: .delivered(agencyReference: nil), audit: [], at: clock.now()) })
    }

    func report(_ id: ReferralID) async throws -> ReferralReport { try #require(await store.report(referralId: id)) }

    func states(_ id: ReferralID) async throws -> [String] {
        try await report(id).deliveries.map { "\($0.agency) \($0.state.rawValue)" + ($0.notice.map { " \($0)" } ?? "") }
    }

    func events(_ id: ReferralID) async throws -> [String] { try await report(id).history.map(\.event) }
}

@Suite struct UrgencyAtIntakeTests {
    @Test func anEmergencyForAPausedTeamGoesToItsAlternativeAuditedWithWhy() async throws {
        let harness = try SafetyHarness()
        await harness.pause("crisis")
        let id = try await harness.submit()
        #expect(try await harness.states(id) == ["home-treatment pending"])
        let redirected = try #require(try await harness.report(id).history.first { $0.event == "referral.redirected" })
        #expect(redirected.detail == "crisis paused by ops (planned upgrade): sent to home-treatment instead of crisis (rule crisis:alternative)")
        // Routine: it waits for the team, as before.
        let routine = try await harness.submit(urgency: .routine)
        #expect(try await harness.states(routine) == ["crisis pending"])
    }

    @Test func withNobodyAbleToActAPersonIsToldAtOnceAndAnAlertGoes() async throws {
        let harness = try SafetyHarness()
        for agency: AgencyID in ["crisis", "home-treatment", "spa"] { await harness.pause(agency) }
        let id = try await harness.submit()
        #expect(try await harness.states(id) == ["crisis pending", "alerts pending attention.opened"])
        let item = try #require(try await harness.loop.attention().first)
        #expect(item.urgency == .emergency)
        #expect(item.dueAt == Timestamp.string(harness.clock.now().addingTimeInterval(3_600)))
        #expect(item.reason.hasPrefix("crisis paused by ops (planned upgrade), and no one who may receive it can act now"))
        let alert = try #require(
            await harness.store.leaseDueDeliveries(now: harness.clock.now(), lanes: [LaneDemand(agency: Alerts.lane, limit: 5, leaseDuration: 30)])
                .first?.notice)
        #expect(alert.type == "attention.opened" && alert.about == item.id && alert.urgency == .emergency && alert.due == item.dueAt)
    }

    @Test func everyHeldReferralIsInFrontOfAPersonAndAnUrgentOneFromElsewhereIsRouted() async throws {
        let harness = try SafetyHarness()
        let held = try await harness.submit(needs: ["befriending"], urgency: .routine, postcode: "RG1 1AA")
        #expect(try await harness.report(held).status == .outOfArea)
        let item = try #require(try await harness.loop.attention().first { $0.referralId == held })
        #expect(item.reason == "held: the person lives outside the service area" && item.urgency == .routine)
        #expect(item.dueAt != nil)
        #expect(try await harness.states(held).isEmpty, "a routine item raises no alert")
        // A crisis for a student from Reading, in Oxford: routed as if they lived here.
        let crisis = try await harness.submit(postcode: "RG1 1AA")
        #expect(try await harness.states(crisis) == ["crisis pending"])
    }
}

@Suite struct DeclineByReasonTests {
    @Test func aPersonsNoIsFinalForThatServiceAndTheReferrerIsTold() async throws {
        let harness = try SafetyHarness()
        let id = try await harness.submit(needs: ["befriending"], urgency: .routine)
        await harness.deliverAll()
        let answered = try await harness.loop.answer(
            referralId: id, agency: "charity", actor: "charity", answer: .declined, reason: .personDeclined, text: "Does not want visits")
        #expect(answered.reroutedTo == nil)
        #expect(try await harness.states(id) == ["charity declined", "callback:gp pending referral.declined"], "nothing sent to the council")
        #expect(try await harness.report(id).status == .closed)
        let closed = try #require(try await harness.report(id).history.first { $0.event == "referral.closed-for-service" })
        #expect(closed.detail == "the person declined the service (befriending): their details are sent nowhere else for it")
        #expect(try await harness.loop.attention().isEmpty)
    }

    @Test func aDuplicateIsClosedForThatAgencyWithItsOwnReference() async throws {
        let harness = try SafetyHarness()
        let id = try await harness.submit(needs: ["befriending"], urgency: .routine)
        await harness.deliverAll()
        _ = try await harness.loop.answer(
            referralId: id, agency: "charity", actor: "charity", answer: .declined, reason: .duplicate, text: nil, reference: "BF-2291")
        let report = try await harness.report(id)
        #expect(report.deliveries.first?.agencyReference == "BF-2291")
        #expect(report.deliveries.filter { $0.notice == nil }.count == 1, "not sent on")
        #expect(!report.history.map(\.detail).contains { $0?.contains("BF-2291") == true }, "the reference is kept, not audited")
    }

    @Test func aCapacityDeclineMovesOnAsBefore() async throws {
        let harness = try SafetyHarness()
        let id = try await harness.submit(needs: ["befriending"], urgency: .routine)
        await harness.deliverAll()
        let answered = try await harness.loop.answer(
            referralId: id, agency: "charity", actor: "charity", answer: .declined, reason: .noCapacity, text: nil)
        #expect(answered.reroutedTo == "spa")
    }

    @Test func insufficientInformationReturnsItAndTheAmendmentReachesTheAgency() async throws {
        let harness = try SafetyHarness()
        let id = try await harness.submit(needs: ["befriending"], urgency: .urgent)
        await harness.deliverAll()
        await #expect(throws: ReferralLoop.Refusal.questionRequired) {
            try await harness.loop.answer(
                referralId: id, agency: "charity", actor: "charity", answer: .declined, reason: .insufficientInformation, text: nil)
        }
        let returned = try await harness.loop.answer(
            referralId: id, agency: "charity", actor: "charity", answer: .declined, reason: .insufficientInformation,
            text: "Which days is Sam at home?")
        #expect(returned.state == .returned && returned.reroutedTo == nil)
        #expect(try await harness.report(id).status == .returned)
        #expect(try await harness.report(id).notes?.map { "\($0.kind): \($0.text)" } == ["returned: Which days is Sam at home?"])
        #expect(try await harness.states(id).contains("callback:gp pending referral.returned"))

        // Only the referrer amends, only what it may, and a bad value is refused by its pointer.
        await #expect(throws: ReferralLoop.Refusal.notFound) {
            try await harness.loop.amend(referralId: id, patch: Array(#"{"reason": "x"}"#.utf8), actor: "other-gp", organisations: nil)
        }
        await #expect(throws: ReferralIntake.Refusal.self) {
            try await harness.loop.amend(referralId: id, patch: Array(#"{"needs": ["adult-social-care"]}"#.utf8), actor: "gp", organisations: nil)
        }
        do {
            _ = try await harness.loop.amend(
                referralId: id, patch: Array(#"{"subject": {"postcode": "nowhere"}}"#.utf8), actor: "gp", organisations: nil)
            Issue.record("a bad postcode was accepted")
        } catch ReferralIntake.Refusal.invalid(let issues) {
            #expect(issues.map(\.pointer) == ["/subject/postcode"])
        }
        // Removing a field a referral could never have is refused as intake refuses it (schemathesis
        // found `{"": null}` accepted: it removes nothing, so nothing checked it).
        do {
            _ = try await harness.loop.amend(
                referralId: id, patch: Array(#"{"externalReference": null, "": null, "subject": {"nickname": null}}"#.utf8), actor: "gp",
                organisations: nil)
            Issue.record("removing unknown fields was accepted")
        } catch ReferralIntake.Refusal.invalid(let issues) {
            #expect(issues.map(\.pointer).contains("/subject/nickname") && issues.count == 2)
            #expect(issues.allSatisfy { $0.detail.hasPrefix("is not a field") })
        }
        harness.clock.advance(by: 600)
        let amended = try await harness.loop.amend(
            referralId: id,
            patch: Array(#"{"reason": "Sam is at home on Mondays and Thursdays.", "subject": {"phone": null, "preferredLanguage": "pl"}}"#.utf8),
            actor: "gp", organisations: nil)
        #expect(amended.fields == ["/reason", "/subject/phone", "/subject/preferredLanguage"])
        #expect(amended.updating == ["charity"])
        let loop = try #require(await harness.store.loopReferral(id))
        #expect(loop.referral.reason == "Sam is at home on Mondays and Thursdays." && loop.referral.subject.phone == nil)
        let charity = try #require(loop.deliveries.first { $0.agency == "charity" && $0.notice == nil })
        #expect(charity.state == .delivered, "back with the agency")
        #expect(charity.deadlineAt.map { $0 > harness.clock.now() } == true, "with a new deadline")
        let update = try #require(
            await harness.store.leaseDueDeliveries(now: harness.clock.now(), lanes: [LaneDemand(agency: "charity", limit: 5, leaseDuration: 30)])
                .first)
        #expect(update.notice?.type == "referral.updated" && update.notice?.about == charity.deliveryId.rawValue)
        #expect(update.referral.reason == "Sam is at home on Mondays and Thursdays.", "the update carries the referral as it now stands")
        let trail = await harness.store.auditEvents(afterSequence: 0, limit: 500).map(\.detail).joined(separator: "\n")
        #expect(trail.contains("amended: /reason, /subject/phone, /subject/preferredLanguage; the update goes to charity"))
        #expect(!trail.contains("Mondays") && !trail.contains("Which days"), "values and questions stay out of the trail")
    }
}

@Suite struct StoppedLaneTests {
    @Test func anEmergencyAlreadyWaitingOnATeamThatIsPausedMovesOnAtTheNextSweep() async throws {
        let harness = try SafetyHarness()
        let id = try await harness.submit()
        #expect(try await harness.states(id) == ["crisis pending"])
        await harness.pause("crisis")
        #expect(try await harness.loop.escalateDue() == 1)
        #expect(try await harness.states(id) == ["crisis withdrawn", "home-treatment pending", "callback:gp pending referral.rerouted"])
        #expect(try await harness.events(id).contains("delivery.withdrawn"))
        #expect(try await harness.loop.escalateDue() == 0, "once")
    }

    @Test func anEmergencysMissedDeadlineMovesItOnAndTheLateAgencyIsToldItIsWithdrawn() async throws {
        let harness = try SafetyHarness()
        let id = try await harness.submit(extra: #", "respondBy": "2027-06-01T12:00:00Z""#)
        await harness.deliverAll()
        #expect(try await harness.report(id).deliveries[0].deadlineAt == Timestamp.string(harness.clock.now().addingTimeInterval(3_600)))
        harness.clock.advance(by: 3_601)
        #expect(try await harness.loop.escalateDue() == 1)
        #expect(
            try await harness.states(id) == [
                "crisis withdrawn", "home-treatment pending", "callback:gp pending referral.rerouted", "crisis pending referral.withdrawn",
            ])
    }
}
