import Audit
import Foundation
import ReferralModel
import Routing
import Settings
import Storage
import SwitchboardTesting
import Testing
import UseCases

/// The closed loop over the example agencies and rules, an in-memory store and a clock the test
/// holds: agencies answer, declines move on, deadlines escalate, people resolve what is left.
struct LoopHarness {
    let intakeHarness: IntakeHarness
    let loop: ReferralLoop
    var store: InMemoryStore { intakeHarness.store }
    var clock: ManualClock { intakeHarness.clock }

    init(now: Date = Date(timeIntervalSince1970: 1_795_000_000), callbacks: Set<String> = []) throws {
        intakeHarness = try IntakeHarness(now: now)
        loop = ReferralLoop(store: intakeHarness.store, rules: intakeHarness.rules, clock: intakeHarness.clock, callbacks: callbacks)
    }

    /// A befriending referral for someone in Oxford: it goes to the charity, with the council's
    /// front door as its alternative. `urgency` and `consent` as given.
    func befriending(urgency: String = "routine", consent: String = #"{"status": "given"}"#, safeguarding: Bool? = nil) async throws -> ReferralID {
        var text = String(decoding: try intakeHarness.example(), as: UTF8.self)
        text = text.replacingOccurrences(of: #"["falls-prevention", "reablement"]"#, with: #"["befriending"]"#)
            .replacingOccurrences(of: #""urgency": "urgent""#, with: #""urgency": "\#(urgency)""#)
            .replacingOccurrences(of: #""consent": { "status": "given" }"#, with: #""consent": \#(consent)"#)
        if let safeguarding { text = text.replacingOccurrences(of: #""safeguarding": false"#, with: #""safeguarding": \#(safeguarding)"#) }
        let accepted = try await intakeHarness.intake.submit(Array(text.utf8), actor: "gp", idempotencyKey: nil)
        return accepted.receipt.id
    }

    /// Every due job delivered, as the dispatcher would record it.
    func deliverAll() async throws {
        let agencies = LocalAgencies.all
        let leased = await store.leaseDueDeliveries(
            now: clock.now(), lanes: agencies.map { LaneDemand(agency: $0, limit: 100, leaseDuration: 30) })
        _ = await store.finish(leased.map { DeliveryCompletion(lease: $0, result: .delivered(agencyReference: nil), audit: [], at: clock.now()) })
    }

    func states(_ id: ReferralID) async throws -> [String] {
        try #require(await store.report(referralId: id)).deliveries.map { "\($0.agency) \($0.state.rawValue)" }
    }
}

enum LocalAgencies {
    static let all: [AgencyID] = ["oxfordshire-spa", "oxford-falls", "oxfordshire-mash", "oxford-mh-crisis", "oxfordshire-befriending"]
}

@Suite struct ReferralLoopTests {
    @Test func anAgencyAcceptsThenCompletesAndNothingElseIsAllowed() async throws {
        let harness = try LoopHarness()
        let id = try await harness.befriending()
        await #expect(throws: ReferralLoop.Refusal.notAlong(current: .pending)) {
            try await harness.loop.answer(
                referralId: id, agency: "oxfordshire-befriending", actor: "charity", answer: .accepted, reason: nil, text: nil)
        }
        try await harness.deliverAll()
        let accepted = try await harness.loop.answer(
            referralId: id, agency: "oxfordshire-befriending", actor: "charity", answer: .accepted, reason: nil, text: nil)
        #expect(accepted.state == .accepted)
        #expect(await harness.store.report(referralId: id)?.status == .accepted)
        _ = try await harness.loop.answer(
            referralId: id, agency: "oxfordshire-befriending", actor: "charity", answer: .completed, reason: nil, text: nil)
        let report = try #require(await harness.store.report(referralId: id))
        #expect(report.status == .completed)
        #expect(report.history.suffix(2).map(\.event) == ["referral.accepted", "referral.completed"])
        await #expect(throws: ReferralLoop.Refusal.notAlong(current: .completed)) {
            try await harness.loop.answer(
                referralId: id, agency: "oxfordshire-befriending", actor: "charity", answer: .declined, reason: .other, text: nil)
        }
    }

    @Test func anotherAgencysReferralIsRefusedAndAudited() async throws {
        let harness = try LoopHarness()
        let id = try await harness.befriending()
        try await harness.deliverAll()
        await #expect(throws: ReferralLoop.Refusal.notYours) {
            try await harness.loop.answer(referralId: id, agency: "oxford-falls", actor: "falls-key", answer: .accepted, reason: nil, text: nil)
        }
        await #expect(throws: ReferralLoop.Refusal.noAgency) {
            try await harness.loop.answer(referralId: id, agency: nil, actor: "old-key", answer: .accepted, reason: nil, text: nil)
        }
        let refused = try #require(await harness.store.report(referralId: id)).history.filter { $0.event == "answer.refused" }
        #expect(refused.count == 2)
        #expect(try await harness.states(id) == ["oxfordshire-befriending delivered"], "nothing changed")
    }

    @Test func aDeclineMovesTheReferralToTheAlternativeAndKeepsTheTextOutOfTheTrail() async throws {
        let harness = try LoopHarness()
        let id = try await harness.befriending()
        try await harness.deliverAll()
        let text = "No volunteers near Mrs Testperson's street until spring"
        let declined = try await harness.loop.answer(
            referralId: id, agency: "oxfordshire-befriending", actor: "charity", answer: .declined, reason: .noCapacity, text: text)
        #expect(declined.reroutedTo == "oxfordshire-spa")
        #expect(try await harness.states(id) == ["oxfordshire-befriending declined", "oxfordshire-spa pending"])
        let report = try #require(await harness.store.report(referralId: id))
        #expect(report.deliveries[0].declineReason == .noCapacity)
        #expect(report.deliveries[1].rule == "befriending-oxfordshire:alternative")
        #expect(report.notes?.map(\.text) == [text], "the explanation is kept with the referral")
        let rerouted = try #require(report.history.first { $0.event == "referral.rerouted" })
        #expect(rerouted.detail?.contains("from oxfordshire-befriending to oxfordshire-spa (declined by oxfordshire-befriending)") == true)
        #expect(rerouted.detail?.contains("rules version sha256:") == true)
        let everything = await harness.store.auditEvents(afterSequence: 0, limit: 1_000).map(\.detail).joined()
        #expect(!everything.contains("Testperson") && !everything.contains("volunteers"), "free text is referenced, not copied")
    }

    @Test func declinedByEveryCandidateItNeedsAPersonWhoCanResolveIt() async throws {
        let harness = try LoopHarness()
        let id = try await harness.befriending()
        try await harness.deliverAll()
        _ = try await harness.loop.answer(
            referralId: id, agency: "oxfordshire-befriending", actor: "charity", answer: .declined, reason: .notEligible, text: nil)
        try await harness.deliverAll()
        let last = try await harness.loop.answer(
            referralId: id, agency: "oxfordshire-spa", actor: "spa", answer: .declined, reason: .outOfArea, text: nil)
        #expect(last.reroutedTo == nil, "the fallback already had it")
        #expect(await harness.store.report(referralId: id)?.status == .needsAttention)
        let items = try await harness.loop.attention()
        #expect(items.count == 1)
        #expect(items[0].reason == "declined by oxfordshire-spa, and no alternative or fallback is left")

        let resolved = try await harness.loop.resolve(items[0].id, .reroute(agency: "oxfordshire-mash"), actor: "admin")
        #expect(resolved.resolution == "rerouted to oxfordshire-mash")
        #expect(try await harness.loop.attention().isEmpty)
        #expect(try await harness.states(id).last == "oxfordshire-mash pending")
        await #expect(throws: ReferralLoop.Refusal.notFound) {
            try await harness.loop.resolve(items[0].id, .close(reason: "done"), actor: "admin")
        }
    }

    @Test func aMissedDeadlineEscalatesOnceToTheNextCandidate() async throws {
        // Friday 2026-11-20 16:00 London: an urgent referral has 4 working hours, so until Monday 12:00.
        let friday = Date(timeIntervalSince1970: 1_795_190_400)
        let harness = try LoopHarness(now: friday)
        let id = try await harness.befriending(urgency: "urgent")
        try await harness.deliverAll()
        let deadline = try #require(await harness.store.report(referralId: id)?.deliveries.first?.deadlineAt)
        #expect(deadline == "2026-11-23T12:00:00.000Z")
        harness.clock.advance(by: 3 * 86_400 - 4 * 3_600 - 60)  // Monday 11:59
        #expect(try await harness.loop.escalateDue() == 0)
        harness.clock.advance(by: 120)
        #expect(try await harness.loop.escalateDue() == 1)
        // The late agency's delivery is taken back, and it is told, so it does not act on a referral
        // that went elsewhere.
        #expect(
            try await harness.states(id) == [
                "oxfordshire-befriending withdrawn", "oxfordshire-spa pending", "oxfordshire-befriending pending",
            ])
        let notice = try #require(await harness.store.report(referralId: id)?.deliveries.last)
        #expect(notice.notice == "referral.withdrawn")
        #expect(try await harness.loop.escalateDue() == 0, "it escalates once")
        let events = try #require(await harness.store.report(referralId: id)).history.map(\.event)
        #expect(events.contains("delivery.overdue") && events.contains("referral.rerouted") && events.contains("delivery.withdrawn"))
        await #expect(throws: ReferralLoop.Refusal.notAlong(current: .withdrawn)) {
            try await harness.loop.answer(
                referralId: id, agency: "oxfordshire-befriending", actor: "charity", answer: .accepted, reason: nil, text: nil)
        }
    }

    @Test func aReferralSharedWithoutConsentMovesOnlyToSafeguardingRecipients() async throws {
        let harness = try LoopHarness()
        let consent = #"{"status": "refused", "lawfulBasis": "vital-interests", "decisionMaker": "Dr Test", "decidedAt": "2026-11-18T10:00:00Z"}"#
        let id = try await harness.befriending(consent: consent, safeguarding: true)
        try await harness.deliverAll()
        #expect(try await harness.states(id) == ["oxfordshire-mash delivered"])
        _ = try await harness.loop.answer(referralId: id, agency: "oxfordshire-mash", actor: "mash", answer: .declined, reason: .other, text: nil)
        #expect(try await harness.states(id) == ["oxfordshire-mash declined"], "the council's front door is no safeguarding recipient")
        let item = try #require(try await harness.loop.attention().first)
        await #expect(throws: ReferralLoop.Refusal.self) {
            try await harness.loop.resolve(item.id, .reroute(agency: "oxfordshire-befriending"), actor: "admin")
        }
        let closed = try await harness.loop.resolve(item.id, .close(reason: "Safeguarding team spoke to the family directly"), actor: "admin")
        #expect(closed.resolution?.hasPrefix("closed (reason in note ") == true)
        #expect(await harness.store.report(referralId: id)?.status == .closed)
    }

    @Test func aDeadLetterIsEscalatedAndShownToAPerson() async throws {
        let harness = try LoopHarness()
        let id = try await harness.befriending()
        let leased = await harness.store.leaseDueDeliveries(
            now: harness.clock.now(), lanes: [LaneDemand(agency: "oxfordshire-befriending", limit: 1, leaseDuration: 30)])
        _ = await harness.store.finish(
            leased.map { DeliveryCompletion(lease: $0, result: .deadLetter(error: "HTTP 404"), audit: [], at: harness.clock.now()) })
        #expect(try await harness.loop.escalateDue() == 1)
        // Re-routed, the dead letter is resolved: withdrawn (it never reached the agency, so nobody is told).
        #expect(try await harness.states(id) == ["oxfordshire-befriending withdrawn", "oxfordshire-spa pending"])
        let item = try #require(try await harness.loop.attention().first)
        #expect(item.reason == "oxfordshire-befriending could not be reached (dead-lettered); re-routed to oxfordshire-spa")
        // The council takes it on and completes it: once the item is dealt with, nothing is left needing attention.
        try await harness.deliverAll()
        _ = try await harness.loop.answer(referralId: id, agency: "oxfordshire-spa", actor: "spa", answer: .accepted, reason: nil, text: nil)
        _ = try await harness.loop.answer(referralId: id, agency: "oxfordshire-spa", actor: "spa", answer: .completed, reason: nil, text: nil)
        let states = try #require(await harness.store.report(referralId: id)).deliveries.map(\.state)
        #expect(ReferralStatus.derive(from: states) == .completed)
    }

    @Test func aCancellationWithdrawsWhatWasNotSentAndTellsEveryAgencyThatHasIt() async throws {
        let harness = try LoopHarness()
        let id = try await harness.befriending()
        try await harness.deliverAll()
        _ = try await harness.loop.answer(
            referralId: id, agency: "oxfordshire-befriending", actor: "charity", answer: .accepted, reason: nil, text: nil)
        await #expect(throws: ReferralLoop.Refusal.notFound) {
            try await harness.loop.cancel(referralId: id, actor: "another-gp", organisations: ["Q99"], reason: "not mine")
        }
        let cancelled = try await harness.loop.cancel(referralId: id, actor: "gp", organisations: nil, reason: "The person moved to Wales")
        #expect(cancelled.told == ["oxfordshire-befriending"])
        let report = try #require(await harness.store.report(referralId: id))
        #expect(report.status == .closed)
        #expect(
            report.deliveries.map { "\($0.agency) \($0.state.rawValue) \($0.notice ?? "-")" } == [
                "oxfordshire-befriending withdrawn -", "oxfordshire-befriending pending referral.cancelled",
            ])
        #expect(report.notes?.map(\.kind) == ["cancel"])
        // The notice goes out like any delivery, and carries none of the referral.
        let leased = await harness.store.leaseDueDeliveries(
            now: harness.clock.now(), lanes: [LaneDemand(agency: "oxfordshire-befriending", limit: 5, leaseDuration: 30)])
        #expect(leased.map { $0.notice?.type } == ["referral.cancelled"])
        #expect(leased.first?.notice?.about == report.deliveries[0].deliveryId.rawValue)
        await #expect(throws: ReferralLoop.Refusal.self) {
            try await harness.loop.cancel(referralId: id, actor: "gp", organisations: nil, reason: "again")
        }
        await #expect(throws: ReferralLoop.Refusal.notAlong(current: .withdrawn)) {
            try await harness.loop.answer(
                referralId: id, agency: "oxfordshire-befriending", actor: "charity", answer: .completed, reason: nil, text: nil)
        }
    }

    @Test func aReferrerWithACallbackIsToldOfEachAnswerInTheSameStep() async throws {
        let harness = try LoopHarness(callbacks: ["gp"])
        let id = try await harness.befriending()
        try await harness.deliverAll()
        _ = try await harness.loop.answer(
            referralId: id, agency: "oxfordshire-befriending", actor: "charity", answer: .declined, reason: .noCapacity, text: "private")
        let notices = try #require(await harness.store.report(referralId: id)).deliveries.filter { $0.agency == "callback:gp" }
        #expect(notices.map(\.notice) == ["referral.declined", "referral.rerouted"])
        let leased = await harness.store.leaseDueDeliveries(
            now: harness.clock.now(), lanes: [LaneDemand(agency: "callback:gp", limit: 5, leaseDuration: 30)])
        #expect(
            leased.compactMap(\.notice).map { "\($0.type) \($0.agency ?? "-") \($0.reason ?? "-")" } == [
                "referral.declined oxfordshire-befriending no-capacity", "referral.rerouted oxfordshire-spa -",
            ])
        #expect(await harness.store.report(referralId: id)?.status == .routed, "notices do not count towards its status")
    }
}
