import Foundation
import Gateway
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import ReferralModel
import Storage
import SwitchboardTesting
import Testing
import UseCases

/// The console for daily work: an agency's inbox in the order it must answer, in its own time
/// zone and words; a question back to the referrer, and the referrer's answer coming back.
@Suite struct ConsoleDailyWorkTests {
    /// Wednesday 2 December 2026, 10:00 in London.
    static let morning = Date(timeIntervalSince1970: 1_796_205_600)

    /// A referral for the council's front door (the fixture agency key's agency), delivered to it.
    func delivered(_ fixture: GatewayFixture, urgency: String, respondBy: String? = nil, givenName: String) async throws -> ReferralID {
        var body = String(decoding: try exampleReferral("referral-carer-out-of-area"), as: UTF8.self)
            .replacingOccurrences(of: "RG1 1AA", with: "OX4 1AA")
            .replacingOccurrences(of: #""needs": ["carers-support", "befriending"]"#, with: #""needs": ["housing-support"]"#)
            .replacingOccurrences(of: #""urgency": "routine""#, with: #""urgency": "\#(urgency)""#)
            .replacingOccurrences(of: #""givenName": "Joan""#, with: #""givenName": "\#(givenName)", "nhsNumber": "9990000026""#)
        if let respondBy { body = body.replacingOccurrences(of: #""consent":"#, with: #""respondBy": "\#(respondBy)", "consent":"#) }
        let receipt = try await fixture.components.intake.submit(Array(body.utf8), actor: "test-gp", idempotencyKey: nil).receipt
        let store = fixture.components.store
        let leased = try await store.leaseDueDeliveries(
            now: fixture.components.clock.now(), lanes: [LaneDemand(agency: "oxfordshire-spa", limit: 10, leaseDuration: 30)])
        _ = try await store.finish(
            leased.map { DeliveryCompletion(lease: $0, result: .delivered(agencyReference: nil), audit: [], at: fixture.components.clock.now()) })
        return receipt.id
    }

    @Test func theInboxListsWhoIsWaitingSoonestDueFirstInLocalTime() async throws {
        let clock = ManualClock(now: Self.morning)
        let fixture = try GatewayFixture(clock: clock)
        _ = try await delivered(fixture, urgency: "routine", givenName: "Rita")
        _ = try await delivered(fixture, urgency: "urgent", givenName: "Uma")
        let soonest = try await delivered(fixture, urgency: "urgent", respondBy: "2026-12-02T10:15:00Z", givenName: "Sam")
        try await fixture.test { client in
            var agency = ConsoleBrowser(client)
            let inbox = try await agency.signIn(GatewayFixture.agencyKey)
            let names = ["Sam Specimen", "Uma Specimen", "Rita Specimen"].map { inbox.body.range(of: $0)?.lowerBound }
            #expect(names.allSatisfy { $0 != nil } && names == names.sorted { $0! < $1! }, "soonest due first")
            #expect(inbox.body.contains("aged 76"))
            #expect(inbox.body.contains("due in 15 min (Wed 2 Dec 2026, 10:15)"))
            #expect(inbox.body.contains("due in 4 h (Wed 2 Dec 2026, 14:00)"), "four working hours")
            #expect(inbox.body.contains("housing-support"))
            // Twenty minutes later (the session still alive) the first is overdue, and marked so.
            clock.advance(by: 1_200)
            let later = try await agency.get("/console/inbox")
            #expect(later.body.contains(#"<div class="card overdue">"#))
            #expect(later.body.contains(#"<strong class="warn">overdue by 5 min</strong>"#))
            let page = try await agency.get("/console/inbox/\(soonest)")
            #expect(page.body.contains("999 000 0026"), "NHS numbers read 3-3-4")
            #expect(page.body.contains("Received Wed 2 Dec 2026, 10:00"))
        }
        let trail = try await fixture.components.store.auditEvents(afterSequence: 0, limit: 500)
        #expect(
            trail.contains {
                $0.kind == "inbox.viewed" && $0.detail == "listed 3 referrals in the web inbox of oxfordshire-spa, with name, age and needs"
            })
    }

    @Test func aQuestionGoesBackToTheReferrerWhoseAnswerComesBackToTheAgency() async throws {
        let fixture = try GatewayFixture()
        let id = try await delivered(fixture, urgency: "routine", givenName: "Joan")
        try await fixture.test { client in
            var agency = ConsoleBrowser(client)
            _ = try await agency.signIn(GatewayFixture.agencyKey)
            _ = try await agency.get("/console/inbox/\(id)")
            let unasked = try await agency.post("/console/inbox/\(id)/answer", [("status", "declined"), ("reason", "insufficient-information")])
            #expect(unasked.status == 422 && unasked.body.contains("Say what information is missing"))
            let asked = try await agency.post(
                "/console/inbox/\(id)/answer",
                [("status", "declined"), ("reason", "insufficient-information"), ("text", "Who else lives at the address?")])
            #expect(asked.status == 303)
            #expect(try await agency.get("/console/inbox/\(id)").body.contains("returned to the referrer with your question"))

            var referrer = ConsoleBrowser(client)
            _ = try await referrer.signIn(GatewayFixture.referrerKey)
            let status = try await referrer.get("/console/refer/\(id)")
            #expect(status.body.contains("An agency needs more information") && status.body.contains("Who else lives at the address?"))
            #expect(!status.body.contains(#"http-equiv="refresh""#), "the page does not reload while the answer is typed")
            let answered = try await referrer.post("/console/refer/\(id)/answer", [("answer", "Her husband, whom she cares for.")])
            #expect(answered.status == 303)
            let after = try await referrer.get("/console/refer/\(id)")
            #expect(after.body.contains("Your answer is added to the referral and sent to oxfordshire-spa."))

            let back = try await agency.get("/console/inbox/\(id)")
            #expect(back.body.contains("waiting for your answer"))
            #expect(back.body.contains("Added on") && back.body.contains("Her husband, whom she cares for."))
            #expect(back.body.contains("You asked") && back.body.contains("The referrer answered"))
            // An agency's system reads the same question and answer through the API.
            try await client.execute(uri: "/v1/referrals/\(id)", method: .get, headers: headers(key: GatewayFixture.agencyKey)) { response in
                let view = try JSONDecoder().decode(AgencyReferralView.self, from: Data(buffer: response.body))
                #expect(view.notes?.map(\.kind) == ["returned", "answer"])
                #expect(view.notes?.last?.text == "Her husband, whom she cares for.")
            }
        }
    }
}
