import Foundation
import HummingbirdTesting
import ReferralModel
import Storage
import Testing

/// The console by need to know: operations staff see the queues and no referral, governance staff
/// answer subject access requests and read the audit trail, and neither reaches an administrator's pages.
@Suite struct ConsoleRolesTests {
    @Test func operationsStaffRunTheQueuesAndReadNoReferral() async throws {
        let fixture = try GatewayFixture()
        try await fixture.components.start()
        try await fixture.test { client in
            var browser = ConsoleBrowser(client)
            let home = try await browser.signIn(GatewayFixture.operationsKey)
            #expect(home.status == 200 && home.body.contains("<h1>Overview</h1>") && home.body.contains("operations staff"))
            #expect(home.body.contains("/console/admin/dead") && !home.body.contains("/console/admin/rules\""))
            #expect(try await browser.get("/console/admin/dead").status == 200)
            for path in [
                "/console/admin/rules", "/console/admin/agencies", "/console/admin/attention", "/console/admin/audit", "/console/admin/records",
            ] {
                #expect(try await browser.get(path).status == 403, "\(path)")
            }
            let paused = try await browser.post("/console/admin/agencies/oxford-falls/pause", [("reason", "planned outage")])
            #expect(paused.status == 303)
        }
    }

    @Test func governanceStaffFindAPersonsReferralsAndTheSearchIsAudited() async throws {
        let fixture = try GatewayFixture()
        try await fixture.components.start()
        let store = fixture.components.store
        try await fixture.test { client in
            let submitted = try await client.execute(
                uri: "/v1/referrals", method: .post, headers: headers(key: GatewayFixture.referrerKey), body: .init(data: try exampleReferral())
            ) { try JSONDecoder().decode(SubmissionReceipt.self, from: Data(buffer: $0.body)).id }
            var browser = ConsoleBrowser(client)
            let home = try await browser.signIn(GatewayFixture.governanceKey)
            #expect(home.status == 200 && home.body.contains("<h1>Subject access</h1>"))
            let found = try await browser.post(
                "/console/admin/records", [("nhsNumber", "999 000 0018"), ("reason", "SAR-2026-9"), ("action", "search")])
            #expect(found.status == 200 && found.body.contains("1 referral found") && found.body.contains(submitted.rawValue))
            let download = try await browser.post(
                "/console/admin/records", [("familyName", "TESTPERSON"), ("birthDate", "1941-03-14"), ("reason", "SAR-2026-9"), ("action", "export")])
            #expect(download.status == 200 && download.headers[.contentDisposition]?.contains("subject-access.json") == true)
            #expect(download.body.contains("\"familyName\" : \"Testperson\""))
            let noReason = try await browser.post("/console/admin/records", [("nhsNumber", "9990000018"), ("action", "search")])
            #expect(noReason.status == 422 && noReason.body.contains("Reason is required"))
            #expect(try await browser.get("/console/admin/audit").status == 200)
            for path in ["/console/admin", "/console/admin/dead", "/console/admin/rules", "/console/admin/referrals/\(submitted)"] {
                #expect(try await browser.get(path).status == 403, "\(path)")
            }
        }
        let searches = try await store.auditEvents(afterSequence: 0, limit: 1_000).filter { $0.kind == "records.searched" }
        #expect(searches.map(\.actor) == ["test-governance", "test-governance"])
        #expect(searches.allSatisfy { $0.detail.contains("SAR-2026-9") && !$0.detail.contains("0018") })
    }

    @Test func theAuditPageShowsTheRetentionPolicyAndItsLastRun() async throws {
        let fixture = try GatewayFixture(sections: "retention: { closed_after_days: 30, run_at: \"00:00\" }")
        try await fixture.components.start()
        let retention = fixture.components.retention
        try await fixture.test { client in
            var browser = ConsoleBrowser(client)
            let before = try await browser.signIn(GatewayFixture.governanceKey)
            #expect(before.status == 200)
            let page = try await browser.get("/console/admin/audit")
            #expect(page.body.contains("Retention runs each day at 00:00") && page.body.contains("It has not run yet"))
            let run = try #require(try await retention.runIfDue())
            let after = try await browser.get("/console/admin/audit")
            #expect(after.body.contains("Last run: \(run.day)") && after.body.contains("0 referrals&#39; personal data removed"))
        }
    }

    @Test func theOverviewSetsEachAgencysReferralsTodayAgainstItsCapacity() async throws {
        // The falls service says it can take one referral a day; the example gives it forty.
        let fixture = try GatewayFixture(editAgencies: { $0.replacingOccurrences(of: "capacity: { per_day: 40 }", with: "capacity: { per_day: 1 }") })
        try await fixture.components.start()
        try await fixture.test { client in
            var browser = ConsoleBrowser(client)
            _ = try await browser.signIn(GatewayFixture.operationsKey)
            #expect(try await browser.get("/console/admin").body.contains("Today (of capacity)"))
            for _ in 0..<2 {
                let status = try await client.execute(
                    uri: "/v1/referrals", method: .post, headers: headers(key: GatewayFixture.referrerKey), body: .init(data: try exampleReferral())
                ) { $0.status }
                #expect(status == .accepted)
            }
            let overview = try await browser.get("/console/admin")
            #expect(overview.body.contains("<strong class=\"warn\">2 of 1: over capacity</strong>"))
        }
        let counted = try await fixture.components.queue.referralsToday()
        #expect(counted["oxford-falls"] == 2 && counted["oxfordshire-spa"] == 2)
    }
}
