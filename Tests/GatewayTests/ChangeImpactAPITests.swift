import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import ReferralModel
import Testing
import UseCases

/// What a proposed rules or agencies change would have done to the referrals already received.
@Suite struct ChangeImpactAPITests {
    /// Submits the example falls referral with only the falls need, `count` times, then crisis ones.
    static func submitFallsAndCrisis(_ fixture: GatewayFixture, falls: Int, crisis: Int) async throws -> (falls: [String], crisis: [String]) {
        var object = try #require(try JSONSerialization.jsonObject(with: try exampleReferral()) as? [String: Any])
        object["needs"] = ["falls-prevention"]
        let fallsBody = try JSONSerialization.data(withJSONObject: object)
        var fallsIds: [String] = []
        for _ in 0..<falls {
            fallsIds.append(try await fixture.components.intake.submit(Array(fallsBody), actor: "test-gp", idempotencyKey: nil).receipt.id.rawValue)
        }
        var crisisIds: [String] = []
        for _ in 0..<crisis {
            let body = Array(try exampleReferral("referral-crisis"))
            crisisIds.append(try await fixture.components.intake.submit(body, actor: "test-gp", idempotencyKey: nil).receipt.id.rawValue)
        }
        return (fallsIds, crisisIds)
    }

    static func impact(_ client: any TestClientProtocol, _ document: String, _ text: String, days: Int = 30) async throws -> (
        HTTPResponse.Status, ChangeImpact?
    ) {
        try await client.execute(
            uri: "/v1/\(document)/impact?days=\(days)", method: .post, headers: yamlHeaders(ifMatch: nil), body: ByteBuffer(string: text)
        ) { response in
            (response.status, response.status == .ok ? try JSONDecoder().decode(ChangeImpact.self, from: Data(buffer: response.body)) : nil)
        }
    }

    @Test func movingFallsReferralsToAnotherAgencyReportsExactlyTheReferralsMoved() async throws {
        let fixture = try GatewayFixture()
        try await fixture.components.start()
        let submitted = try await Self.submitFallsAndCrisis(fixture, falls: 7, crisis: 3)
        let live = try String(contentsOfFile: fixture.rulesPath, encoding: .utf8)
        let proposed = live.replacingOccurrences(of: "    route_to: oxford-falls\n", with: "    route_to: oxfordshire-spa\n")
        #expect(proposed != live)
        let store = fixture.components.store
        let rulesPath = fixture.rulesPath
        try await fixture.test { client in
            let (status, answer) = try await Self.impact(client, "rules", proposed)
            #expect(status == .ok)
            let impact = try #require(answer)
            #expect(impact.referrals == 10)
            #expect(impact.changed == 7)
            let agencies = Dictionary(uniqueKeysWithValues: impact.agencies.map { ($0.agency, $0) })
            let falls = try #require(agencies["oxford-falls"])
            #expect((falls.before, falls.after, falls.gained, falls.lost) == (7, 0, 0, 7))
            // A few of them by id, oldest first: exactly the falls referrals, never a crisis one.
            #expect(falls.lostExamples == Array(submitted.falls.sorted().prefix(5)))
            let council = try #require(agencies["oxfordshire-spa"])
            #expect((council.before, council.after, council.gained, council.lost) == (0, 7, 7, 0))
            #expect(council.gainedExamples == Array(submitted.falls.sorted().prefix(5)))
            let crisis = try #require(agencies["oxford-mh-crisis"])
            #expect((crisis.before, crisis.after, crisis.gained, crisis.lost) == (3, 3, 0, 0))
            #expect(impact.outcomes.allSatisfy { $0.entering == 0 && $0.leaving == 0 })
            // Nothing was stored: the live rules are unchanged and no referral was routed again.
            #expect(try String(contentsOfFile: rulesPath, encoding: .utf8) == live)
            let report = try #require(try await store.report(referralId: ReferralID(submitted.falls[0])))
            #expect(report.deliveries.map(\.agency) == ["oxford-falls"])
        }
    }

    @Test func aChangeToTheFallbackAndAShorterPeriodAreCountedAndABrokenFileIsRefused() async throws {
        let fixture = try GatewayFixture()
        try await fixture.components.start()
        _ = try await Self.submitFallsAndCrisis(fixture, falls: 2, crisis: 2)
        let live = try String(contentsOfFile: fixture.rulesPath, encoding: .utf8)
        // Without the falls rule, falls referrals go to the fallback.
        let proposed = live.replacingOccurrences(of: "      needs: falls-prevention\n", with: "      needs: district-nursing\n")
        let agencies = try changedAgencies(fixture)
        try await fixture.test { client in
            let impact = try #require(try await Self.impact(client, "rules", proposed, days: 1).1)
            let fallback = try #require(impact.outcomes.first { $0.outcome == "to the fallback" })
            #expect((fallback.before, fallback.after, fallback.entering) == (0, 2, 2))
            let (invalid, _) = try await Self.impact(client, "rules", "rules: []\nfallback: the-moon\n")
            #expect(invalid.code == 422)
            let (badDays, _) = try await Self.impact(client, "rules", proposed, days: 0)
            #expect(badDays.code == 422)
            // An agencies change that changes no routing moves nothing.
            let (status, same) = try await Self.impact(client, "agencies", agencies)
            #expect(status == .ok)
            #expect(same?.changed == 0 && same?.referrals == 4)
        }
    }

    @Test func theConsoleShowsTheSameNumbersBesideTheDiffAndToTheAdministratorApproving() async throws {
        let fixture = try GatewayFixture(approval: [.rules])
        try await fixture.components.start()
        let submitted = try await Self.submitFallsAndCrisis(fixture, falls: 6, crisis: 2)
        let live = try String(contentsOfFile: fixture.rulesPath, encoding: .utf8)
        let proposed = live.replacingOccurrences(of: "    route_to: oxford-falls\n", with: "    route_to: oxfordshire-spa\n")
        let oldest = try #require(submitted.falls.sorted().first)
        let components = fixture.components
        try await fixture.test { client in
            var admin = ConsoleBrowser(client)
            _ = try await admin.signIn(GatewayFixture.adminKey)
            _ = try await admin.get("/console/admin/rules")
            let checked = try await admin.post(
                "/console/admin/rules/check",
                [("base", components.rules.live.current.rules.version), ("text", proposed), ("action", "check")])
            #expect(checked.status == 200)
            // The editor shows what the API gives for the same text, beside the diff.
            #expect(checked.body.contains(#"<span class="impact-changed">6</span> would go differently"#))
            #expect(checked.body.contains(#"<th scope="row">oxford-falls</th><td>6</td><td>0</td><td class="gained">0</td><td class="lost">6"#))
            #expect(checked.body.contains(#"<th scope="row">oxfordshire-spa</th><td>0</td><td>6</td><td class="gained">6"#))
            #expect(checked.body.contains("/console/admin/referrals/\(oldest)"))
            // Proposed by one administrator, the second sees its impact before approving.
            let proposal = try await components.rules.propose(proposed, to: .rules, ifMatch: ["*"], actor: "other-admin")
            let editor = try await admin.get("/console/admin/rules")
            #expect(editor.body.contains("/console/admin/rules/proposals/\(proposal.proposal.id)/impact"))
            let shown = try await admin.get("/console/admin/rules/proposals/\(proposal.proposal.id)/impact")
            #expect(shown.status == 200)
            #expect(shown.body.contains("The proposal by other-admin"))
            #expect(shown.body.contains(#"<span class="impact-changed">6</span> would go differently"#))
            #expect(shown.body.contains(#"<th scope="row">oxford-falls</th><td>6</td><td>0</td><td class="gained">0</td><td class="lost">6"#))
            #expect(try await admin.get("/console/admin/rules/proposals/no-such-proposal/impact").status == 404)
        }
    }
}
