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

/// Rolling the live rules back through the API: an older version becomes live as a new one, and
/// one that no longer validates cannot.
@Suite struct RulesRollbackAPITests {
    @Test func aRollbackMakesAnOlderVersionLiveAsANewVersion() async throws {
        let fixture = try GatewayFixture()
        // Start as `serve` does: the rules become version 1.
        try await fixture.components.start()
        try await fixture.test { client in
            let live = try await liveRules(client)
            let change = try await client.execute(
                uri: "/v1/rules", method: .put, headers: yamlHeaders(ifMatch: "\"\(live.version)\""),
                body: ByteBuffer(string: changedRules(live.text))
            ) { try JSONDecoder().decode(RulesChangeResult.self, from: Data(buffer: $0.body)) }
            let rollback = headers(key: GatewayFixture.adminKey, extra: [("If-Match", "\"\(change.version)\"")])
            try await client.execute(uri: "/v1/rules/rollback", method: .post, headers: rollback, body: ByteBuffer(string: #"{"version": 1}"#)) {
                response in
                #expect(response.status == .ok)
                let back = try JSONDecoder().decode(RulesChangeResult.self, from: Data(buffer: response.body))
                #expect(back.applied && back.number == 3 && back.version == live.version && back.previousVersion == change.version)
                #expect(back.summary == "removed: district-nursing-oxford; changed: falls-oxfordshire")
            }
            let referral = try await client.execute(
                uri: "/v1/referrals", method: .post, headers: headers(key: GatewayFixture.referrerKey), body: ByteBuffer(data: try exampleReferral())
            ) { try JSONDecoder().decode(SubmissionReceipt.self, from: Data(buffer: $0.body)) }
            #expect(referral.rulesVersion == live.version)
            #expect(referral.routes.map(\.agency.rawValue) == ["oxford-falls", "oxfordshire-spa"])

            let now = headers(key: GatewayFixture.adminKey, extra: [("If-Match", "*")])
            try await client.execute(uri: "/v1/rules/rollback", method: .post, headers: now, body: ByteBuffer(string: #"{"version": 99}"#)) {
                response in
                #expect(response.status == .notFound)
                try expectProblem(response, "urn:switchboard:problem:not-found")
            }
            for body in [#"{"version": "2"}"#, #"{"version": 0}"#, #"{}"#, #"{"version": 2, "force": true}"#, "[]"] {
                try await client.execute(uri: "/v1/rules/rollback", method: .post, headers: now, body: ByteBuffer(string: body)) { response in
                    #expect(response.status == .unprocessableContent, "\(body)")
                    try expectProblem(response, "urn:switchboard:problem:invalid-request")
                }
            }
            try await client.execute(uri: "/v1/rules/rollback", method: .post, headers: now, body: ByteBuffer(string: #"{"version": "#)) { response in
                #expect(response.status == .badRequest)
                try expectProblem(response, "urn:switchboard:problem:malformed-json")
            }
        }
        #expect(try fixture.count("rule_versions") == 3)
        #expect(
            try String(contentsOfFile: fixture.rulesPath, encoding: .utf8)
                == (try String(contentsOf: repositoryRoot.appendingPathComponent("config/rules.yaml"), encoding: .utf8)))
    }

    @Test func aStoredVersionThatNoLongerValidatesCannotBeRolledBackTo() async throws {
        let fixture = try GatewayFixture()
        // Start as `serve` does: the rules become version 1.
        try await fixture.components.start()
        let store = fixture.components.store
        try await fixture.test { client in
            let live = try await liveRules(client)
            // As if stored when an agency existed that agencies.yaml no longer lists.
            let old = live.text.replacingOccurrences(of: "fallback: oxfordshire-spa", with: "fallback: retired-agency")
            let stored = try await store.recordRules(
                RulesVersionRecord(
                    number: 2, version: "sha256:0123456789ab", appliedAt: "2026-01-01T00:00:00.000Z", appliedBy: "test", source: "api", summary: "",
                    text: old), expectedLatest: 1, audit: [])
            #expect(stored)
            try await client.execute(
                uri: "/v1/rules/rollback", method: .post, headers: headers(key: GatewayFixture.adminKey, extra: [("If-Match", "*")]),
                body: ByteBuffer(string: #"{"version": 2}"#)
            ) { response in
                #expect(response.status == .unprocessableContent)
                try expectProblem(response, "urn:switchboard:problem:invalid-rules")
                let problem = try JSONDecoder().decode(RuleProblemBody.self, from: Data(buffer: response.body))
                #expect(problem.errors?.map(\.pointer) == ["/fallback"])
            }
        }
        #expect(fixture.components.rules.live.current.rules.fallback == "oxfordshire-spa")
    }
}
