import APIDocuments
import Deployment
import Foundation
import Gateway
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import ReferralModel
import Storage
import Testing
import UseCases

/// Reading and testing the rules through the API, and who may.
@Suite struct RulesAPITests {
    @Test func theLiveRulesAreReadWithTheirVersionAsETag() async throws {
        let fixture = try GatewayFixture()
        let file = try String(contentsOfFile: fixture.rulesPath, encoding: .utf8)
        try await fixture.components.start()
        try await fixture.test { client in
            try await client.execute(uri: "/v1/rules", method: .get, headers: headers(key: GatewayFixture.adminKey)) { response in
                #expect(response.status == .ok)
                let body = try JSONDecoder().decode(LiveRulesDocument.self, from: Data(buffer: response.body))
                #expect(body.text == file)
                #expect(response.headers[.eTag] == "\"\(body.version)\"")
                #expect(body.number == 1)
                #expect(body.source == "start-up")
                #expect(body.rules.first == "children-safeguarding")
                #expect(body.fallback == "oxfordshire-spa")
            }
        }
    }

    @Test func aTestShowsEachRulesResultByTheLiveOrAProposedText() async throws {
        let fixture = try GatewayFixture()
        let example = try exampleReferral()
        // Start as `serve` does: the rules become version 1.
        try await fixture.components.start()
        let administrator = fixture.components.rules
        try await fixture.test { client in
            let referral = try #require(try JSONSerialization.jsonObject(with: example) as? [String: Any])
            let live = try await liveRules(client)
            func test(_ body: [String: Any]) async throws -> (HTTPResponse.Status, [String: Any]) {
                try await client.execute(
                    uri: "/v1/rules/test", method: .post, headers: headers(key: GatewayFixture.adminKey),
                    body: ByteBuffer(data: try JSONSerialization.data(withJSONObject: body))
                ) { ($0.status, (try JSONSerialization.jsonObject(with: Data(buffer: $0.body)) as? [String: Any]) ?? [:]) }
            }
            let (status, result) = try await test(["referral": referral, "at": "2026-12-01T10:00:00Z"])
            #expect(status == .ok)
            #expect(result["rulesVersion"] as? String == live.version)
            #expect(result["receivedAt"] as? String == "2026-12-01T10:00:00.000Z")
            let rules = try #require(result["rules"] as? [[String: Any]])
            #expect(rules.map { $0["id"] as? String } == live.rules)
            #expect(rules.map { $0["result"] as? String } == ["not-matched", "not-matched", "not-matched", "matched", "not-matched", "matched"])
            #expect(
                rules[0]["failure"] as? String
                    == "none of: needs falls-prevention, reablement include none of safeguarding-child; safeguarding is not true")
            #expect(
                rules[1]["failure"] as? String
                    == "none of: safeguarding is not true; needs falls-prevention, reablement include none of safeguarding-adult")
            #expect(rules[3]["agencies"] as? [String] == ["oxford-falls"])
            #expect((result["routes"] as? [[String: Any]])?.map { $0["agency"] as? String } == ["oxford-falls", "oxfordshire-spa"])
            #expect(result["usedFallback"] as? Bool == false)

            // A proposed text is routed by instead, without going live.
            let proposed = changedRules(live.text)
            let (_, trial) = try await test(["referral": referral, "rules": proposed])
            #expect(
                (trial["routes"] as? [[String: Any]])?.map { $0["agency"] as? String } == ["oxford-falls", "oxfordshire-mash", "oxfordshire-spa"])
            #expect(trial["rulesVersion"] as? String != live.version)
            #expect(administrator.live.current.rules.version == live.version)

            // Every problem, each where it is.
            var broken = referral
            var subject = try #require(referral["subject"] as? [String: Any])
            subject["nhsNumber"] = "999 000 0019"
            broken["subject"] = subject
            let (invalid, problem) = try await test(["referral": broken])
            #expect(invalid == .unprocessableContent)
            #expect(problem["type"] as? String == "urn:switchboard:problem:invalid-referral")
            #expect((problem["errors"] as? [[String: Any]])?.map { $0["pointer"] as? String } == ["/referral/subject/nhsNumber"])

            let (_, request) = try await test(["referral": referral, "at": "tomorrow", "colour": "blue"])
            #expect(request["type"] as? String == "urn:switchboard:problem:invalid-request")
            #expect(Set((request["errors"] as? [[String: Any]])?.compactMap { $0["pointer"] as? String } ?? []) == ["/at", "/colour"])
            let (_, missing) = try await test(["at": "2026-12-01T10:00:00Z"])
            #expect((missing["errors"] as? [[String: Any]])?.first?["pointer"] as? String == "/referral")

            let (_, rulesProblem) = try await test(["referral": referral, "rules": "rules: []\nfallback: nobody\n"])
            #expect(rulesProblem["type"] as? String == "urn:switchboard:problem:invalid-rules")
            let rulesErrors = try #require(rulesProblem["errors"] as? [[String: Any]])
            #expect(rulesErrors.first?["pointer"] as? String == "/rules")
            #expect(rulesErrors.first?["line"] as? Int == 2)

            try await client.execute(
                uri: "/v1/rules/test", method: .post, headers: headers(key: GatewayFixture.adminKey), body: ByteBuffer(string: "{\"referral\":")
            ) {
                response in
                #expect(response.status == .badRequest)
                try expectProblem(response, "urn:switchboard:problem:malformed-json")
            }
        }
        #expect(try fixture.count("referrals") == 0, "a test stores nothing")
        #expect(try fixture.count("rule_versions") == 1)
    }

    @Test func anUnknownVersionIs404() async throws {
        let fixture = try GatewayFixture()
        // Start as `serve` does: the rules become version 1.
        try await fixture.components.start()
        try await fixture.test { client in
            _ = try await liveRules(client)
            for uri in ["/v1/rules/versions/2", "/v1/rules/versions/0", "/v1/rules/versions/01", "/v1/rules/versions/x"] {
                try await client.execute(uri: uri, method: .get, headers: headers(key: GatewayFixture.adminKey)) { response in
                    #expect(response.status == .notFound, "\(uri)")
                    try expectProblem(response, "urn:switchboard:problem:not-found")
                }
            }
        }
    }

    /// Every rules operation, with a body it would accept.
    static let operations: [(HTTPRequest.Method, String, String?)] = [
        (.get, "/v1/rules", nil), (.put, "/v1/rules", "rules: []"), (.post, "/v1/rules/test", "{}"), (.post, "/v1/rules/rollback", #"{"version":1}"#),
        (.get, "/v1/rules/versions", nil), (.get, "/v1/rules/versions/1", nil),
    ]

    @Test func onlyAnAdminKeyMayReadOrChangeRules() async throws {
        let fixture = try GatewayFixture()
        try await fixture.test { client in
            for (method, uri, body) in Self.operations {
                for key in [GatewayFixture.referrerKey, GatewayFixture.agencyKey] {
                    try await client.execute(
                        uri: uri, method: method, headers: yamlHeaders(ifMatch: "*", key: key), body: body.map { ByteBuffer(string: $0) }
                    ) {
                        response in
                        #expect(response.status == .forbidden, "\(method) \(uri)")
                        try expectProblem(response, "urn:switchboard:problem:forbidden")
                    }
                }
                var anonymous = yamlHeaders(ifMatch: "*")
                anonymous[.authorization] = nil
                try await client.execute(uri: uri, method: method, headers: anonymous, body: body.map { ByteBuffer(string: $0) }) { response in
                    #expect(response.status == .unauthorized, "\(method) \(uri)")
                    try expectProblem(response, "urn:switchboard:problem:unauthorised")
                }
            }
        }
        #expect(try fixture.count("rule_versions") == 0)
    }

    @Test func rulesOperationsRefuseLargeBodiesAndFloods() async throws {
        let large = ByteBuffer(repeating: UInt8(ascii: " "), count: (1 << 20) + 1)
        try await GatewayFixture().test { client in
            for (method, uri, _) in Self.operations {
                try await client.execute(uri: uri, method: method, headers: yamlHeaders(ifMatch: "*"), body: large) { response in
                    #expect(response.status == .contentTooLarge, "\(method) \(uri)")
                    try expectProblem(response, "urn:switchboard:problem:body-too-large")
                }
            }
        }
        // The key and its rate are checked before a body is read: a key over its rate is refused
        // without its body being read at all.
        let fixture = try GatewayFixture(rateLimit: 0.01, burst: 1)
        try await fixture.test { client in
            try await client.execute(uri: "/v1/rules", method: .get, headers: headers(key: GatewayFixture.adminKey)) { #expect($0.status == .ok) }
            for (method, uri, body) in Self.operations {
                try await client.execute(uri: uri, method: method, headers: yamlHeaders(ifMatch: "*"), body: body.map { ByteBuffer(string: $0) }) {
                    response in
                    #expect(response.status == .tooManyRequests, "\(method) \(uri)")
                    #expect(response.headers[.retryAfter] != nil)
                }
            }
        }
    }
}
