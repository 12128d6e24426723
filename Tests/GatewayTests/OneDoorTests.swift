import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Storage
import Synchronization
import Testing

/// The console and the API are two doors to the same use cases: the same operation gives the
/// same result whichever an administrator or referrer uses.
@Suite struct OneDoorTests {
    @Test func aRollbackWhereChangesNeedApprovalIsProposedByTheAPIAndTheConsoleAlike() async throws {
        let fixture = try GatewayFixture(approval: [.rules])
        try await fixture.components.start()
        let rules = fixture.components.rules
        let first = rules.live.current.rules.version
        let text = try String(contentsOfFile: fixture.rulesPath, encoding: .utf8)
        let proposed = try await rules.propose(changedRules(text), to: .rules, ifMatch: [first], actor: "Ada Administrator")
        _ = try await rules.approve(proposed.proposal.id, actor: "Ben Administrator")
        let second = rules.live.current.rules.version
        #expect(second != first)

        try await fixture.test { client in
            let api = try await client.execute(
                uri: "/v1/rules/rollback", method: .post, headers: headers(key: GatewayFixture.adminKey, extra: [("If-Match", "\"\(second)\"")]),
                body: ByteBuffer(string: #"{"version": 1}"#)
            ) { ($0.status, $0.headers[.location], String(buffer: $0.body)) }
            #expect(api.0 == .created, "\(api.2)")
            #expect(api.1?.hasPrefix("/v1/rules/proposals/") == true)

            var admin = ConsoleBrowser(client)
            _ = try await admin.signIn(GatewayFixture.secondAdminKey)
            let console = try await admin.post("/console/admin/rules/rollback", [("number", "1"), ("base", second)])
            #expect(console.status == 303)
            let page = try await admin.get(try #require(console.headers[.location]))
            #expect(page.body.contains("Going back to version 1 is proposed"))
        }
        let pending = try await rules.proposals(of: .rules, limit: 10).filter { $0.state == .pending }
        #expect(pending.count == 2, "one proposal from each door")
        #expect(Set(pending.map(\.version)) == [first], "both would make version 1's text live again")
        #expect(Set(pending.map(\.summary)).count == 1)
        #expect(rules.live.current.rules.version == second, "nothing went live without a second administrator")
    }

    @Test func theConsolesDryRunRoutesAReferralAsTheAPIsRulesTestDoes() async throws {
        let fixture = try GatewayFixture()
        let referral = String(decoding: try exampleReferral("referral-safeguarding"), as: UTF8.self)
        let live = fixture.components.rules.live.current
        try await fixture.test { client in
            let routes = try await client.execute(
                uri: "/v1/rules/test", method: .post, headers: headers(key: GatewayFixture.adminKey),
                body: ByteBuffer(string: #"{"referral": \#(referral)}"#)
            ) { response -> [(agency: String, rule: String)] in
                #expect(response.status == .ok)
                let body = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                return (body?["routes"] as? [[String: Any]] ?? []).map { ($0["agency"] as? String ?? "", $0["rule"] as? String ?? "") }
            }
            #expect(!routes.isEmpty)

            var admin = ConsoleBrowser(client)
            _ = try await admin.signIn(GatewayFixture.adminKey)
            let page = try await admin.post(
                "/console/admin/rules/check", [("text", live.text(of: .rules)), ("base", live.rules.version), ("referral", referral)])
            #expect(page.status == 200)
            for route in routes {
                #expect(page.body.contains("\(route.agency) (rule \(route.rule))"), "\(route)")
            }
        }
    }

    @Test func aReferralIsCountedTheSameWhetherItCameThroughTheAPIOrTheConsole() async throws {
        let fixture = try GatewayFixture()
        try await fixture.test { client in
            try await client.execute(
                uri: "/v1/referrals", method: .post, headers: headers(key: GatewayFixture.referrerKey), body: ByteBuffer(data: try exampleReferral())
            ) { #expect($0.status == .accepted) }
            var referrer = ConsoleBrowser(client)
            _ = try await referrer.signIn(GatewayFixture.referrerKey)
            let form = [
                ("submission", "form-1"), ("/referrer/organisation", "K84001"), ("/referrer/name", "Dev"), ("/subject/givenName", "Ada"),
                ("/subject/familyName", "Example"), ("/subject/birthDate", "1940-01-01"), ("/subject/postcode", "OX1 2JD"),
                ("/needs", "falls-prevention"), ("/urgency", "routine"), ("/reason", "Falls."), ("/consent/status", "given"),
            ]
            #expect(try await referrer.post("/console/refer", form).status == 303)
            var invalid = form
            invalid[0] = ("submission", "form-2")
            invalid[7] = ("/needs", "")
            #expect(try await referrer.post("/console/refer", invalid).status == 422)
            try await client.execute(
                uri: "/v1/referrals", method: .post, headers: headers(key: GatewayFixture.referrerKey),
                body: ByteBuffer(string: #"{"needs": ["juggling"]}"#)
            ) { #expect($0.status == .unprocessableContent) }
            try await client.execute(uri: "/metrics", method: .get, headers: headers(key: GatewayFixture.adminKey, json: false)) { response in
                let text = String(buffer: response.body)
                func value(_ series: String) -> Double? {
                    text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
                }
                #expect(value("switchboard_referrals_received_total") == 2)
                #expect(value(#"switchboard_referrals_routed_total{rule="falls-oxfordshire"}"#) == 2)
                #expect(value(#"switchboard_referrals_rejected_total{reason="invalid"}"#) == 2)
            }
        }
    }

    @Test func aProposedAgencyIsTestedFromTheConsoleAndTheAPIAlike() async throws {
        // The agency's new system: a real receiver on loopback that counts what reaches it.
        let received = Atomic<Int>(0)
        let router = Router()
        router.post("intake") { _, _ -> Response in
            received.add(1, ordering: .relaxed)
            return Response(status: .accepted)
        }
        let bound = AsyncStream.makeStream(of: Int.self)
        let receiver = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { bound.continuation.yield($0.localAddress?.port ?? 0) }, logger: Logger(label: "new-agency-system"))
        let serving = Task { try await receiver.runService() }
        defer { serving.cancel() }
        var ports = bound.stream.makeAsyncIterator()
        let port = try #require(await ports.next())

        let fixture = try GatewayFixture()
        try await fixture.components.start()
        let live = try String(contentsOfFile: fixture.agenciesPath, encoding: .utf8)
        let old = try #require(fixture.components.rules.live.current.agencies["oxfordshire-spa"]?.endpoint)
        let proposed = live.replacingOccurrences(of: old, with: "http://127.0.0.1:\(port)/intake")
        #expect(proposed != live)
        let curl = fixture.components.transport
        let transport = Task { try await curl.run() }
        defer { transport.cancel() }
        let base = fixture.components.rules.live.current.agencies.version
        try await fixture.test { client in
            var fields = yamlHeaders(ifMatch: nil)
            fields[.contentType] = "application/yaml"
            let api = try await client.execute(
                uri: "/v1/agencies/test?agency=oxfordshire-spa", method: .post, headers: fields, body: ByteBuffer(string: proposed)
            ) { response in
                #expect(response.status == .ok, "\(String(buffer: response.body))")
                return try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any] ?? [:]
            }
            #expect(api["outcome"] as? String == "accepted" && api["status"] as? Int == 202)
            #expect(api["endpoint"] as? String == "http://127.0.0.1:\(port)/intake")

            var admin = ConsoleBrowser(client)
            _ = try await admin.signIn(GatewayFixture.adminKey)
            let page = try await admin.post(
                "/console/admin/agencies/check", [("text", proposed), ("base", base), ("action", "test-oxfordshire-spa")])
            #expect(page.status == 200)
            #expect(page.body.contains("Test delivery to oxfordshire-spa at http://127.0.0.1:\(port)/intake: accepted (HTTP 202"))
        }
        #expect(received.load(ordering: .relaxed) == 2, "one test delivery from each door")
        let pinged = try await fixture.components.store.auditEvents(afterSequence: 0, limit: 1_000).filter { $0.kind == "agency.pinged" }
        #expect(pinged.count == 2, "both audited")
        #expect(fixture.components.rules.live.current.agencies["oxfordshire-spa"]?.endpoint == old, "nothing was installed")
    }
}
