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

/// Changing the live rules through the API: apply, preconditions, validation, rollback, faults.
@Suite struct RulesChangeAPITests {
    @Test func anAppliedChangeRoutesTheNextReferralAndIsStoredAuditedAndWritten() async throws {
        let fixture = try GatewayFixture()
        // Start as `serve` does: the rules become version 1.
        try await fixture.components.start()
        try await fixture.test { client in
            let live = try await liveRules(client)
            let proposed = changedRules(live.text)
            let change = try await client.execute(
                uri: "/v1/rules", method: .put, headers: yamlHeaders(ifMatch: "\"\(live.version)\""), body: ByteBuffer(string: proposed)
            ) { response in
                #expect(response.status == .ok)
                let change = try JSONDecoder().decode(RulesChangeResult.self, from: Data(buffer: response.body))
                #expect(response.headers[.eTag] == "\"\(change.version)\"")
                return change
            }
            #expect(change.applied)
            #expect(change.number == 2)
            #expect(change.previousVersion == live.version)
            #expect(change.summary == "rules added: district-nursing-oxford; changed: falls-oxfordshire")
            #expect(change.diff.contains("-    route_to: oxford-falls\n+    route_to: [oxford-falls, oxfordshire-mash]\n"))

            // The next referral is routed by the new version, and says so.
            let receipt = try await client.execute(
                uri: "/v1/referrals", method: .post, headers: headers(key: GatewayFixture.referrerKey), body: ByteBuffer(data: try exampleReferral())
            ) { try JSONDecoder().decode(SubmissionReceipt.self, from: Data(buffer: $0.body)) }
            #expect(receipt.rulesVersion == change.version)
            #expect(receipt.routes.map(\.agency.rawValue) == ["oxford-falls", "oxfordshire-mash", "oxfordshire-spa"])

            // The same text again changes nothing.
            try await client.execute(
                uri: "/v1/rules", method: .put, headers: yamlHeaders(ifMatch: "\"\(change.version)\""), body: ByteBuffer(string: proposed)
            ) { response in
                let again = try JSONDecoder().decode(RulesChangeResult.self, from: Data(buffer: response.body))
                #expect(!again.applied && again.number == 2 && again.diff.isEmpty)
            }

            // Both versions are stored, newest first; each is readable with its text.
            try await client.execute(uri: "/v1/rules/versions", method: .get, headers: headers(key: GatewayFixture.adminKey)) { response in
                #expect(response.status == .ok)
                let versions = try JSONDecoder().decode(RulesVersionList.self, from: Data(buffer: response.body)).versions
                #expect(versions.map(\.number) == [2, 1])
                #expect(versions.map(\.appliedBy) == ["test-admin", "gateway"])
                #expect(versions.map(\.source) == ["api", "start-up"])
                #expect(versions.allSatisfy { $0.text == nil }, "listings leave the text out")
            }
            try await client.execute(uri: "/v1/rules/versions/1", method: .get, headers: headers(key: GatewayFixture.adminKey)) { response in
                #expect(response.status == .ok)
                let version = try JSONDecoder().decode(RulesVersionDocument.self, from: Data(buffer: response.body))
                #expect(version.record.text == live.text)
                #expect(response.headers[.eTag] == "\"\(live.version)\"")
            }
            // Each version says what it changed, as the audit trail's summary and as the text's diff.
            try await client.execute(uri: "/v1/rules/versions/2", method: .get, headers: headers(key: GatewayFixture.adminKey)) { response in
                let version = try JSONDecoder().decode(RulesVersionDocument.self, from: Data(buffer: response.body))
                #expect(version.record.summary == change.summary)
                #expect(version.diff == change.diff.replacingOccurrences(of: "+++ new", with: "+++ version 2"))
                #expect(version.diff.hasPrefix("--- version 1\n+++ version 2\n"))
            }
        }
        // The file on disk is what is live, so a restart or a reload keeps it.
        #expect(
            try String(contentsOfFile: fixture.rulesPath, encoding: .utf8)
                == changedRules(try String(contentsOf: repositoryRoot.appendingPathComponent("config/rules.yaml"), encoding: .utf8)))
        let events = try await fixture.components.store.auditEvents(afterSequence: 0, limit: 100)
        let applied = events.filter { $0.kind == "rules.applied" }
        #expect(applied.map(\.actor) == ["gateway", "test-admin"])
        #expect(applied.last?.detail.contains("rules added: district-nursing-oxford; changed: falls-oxfordshire") == true)
        #expect(try await fixture.components.store.verifyAudit() == .intact(events: Int64(events.count), head: events.last!.hash))
    }

    @Test func eachDeliveryKeepsTheAlternativesItWasRoutedWithAfterTheRulesChange() async throws {
        let fixture = try GatewayFixture()
        try await fixture.components.start()
        let example = try exampleReferral("referral-awkward-text")
        try await fixture.test { client in
            let live = try await liveRules(client)
            func submit() async throws -> SubmissionReceipt {
                try await client.execute(
                    uri: "/v1/referrals", method: .post, headers: headers(key: GatewayFixture.referrerKey), body: ByteBuffer(data: example)
                ) {
                    try JSONDecoder().decode(SubmissionReceipt.self, from: Data(buffer: $0.body))
                }
            }
            func report(_ id: ReferralID) async throws -> ReferralReport {
                try await client.execute(uri: "/v1/referrals/\(id)", method: .get, headers: headers(key: GatewayFixture.adminKey)) {
                    try JSONDecoder().decode(ReferralReport.self, from: Data(buffer: $0.body))
                }
            }
            let before = try await submit()
            var alternatives = Dictionary(uniqueKeysWithValues: try await report(before.id).deliveries.map { ($0.agency, $0.alternatives) })
            #expect(alternatives["oxfordshire-befriending"] == ["oxfordshire-spa"])
            #expect(alternatives["oxfordshire-mash"] == [])
            let routed = try await report(before.id).history.first { $0.event == "referral.routed" }?.detail
            #expect(routed?.contains("oxfordshire-befriending (befriending-oxfordshire; if it declines: oxfordshire-spa)") == true)

            // The charity's alternative becomes the safeguarding hub for referrals routed from now on.
            let changed = live.text.replacingOccurrences(
                of: "alternatives: [oxfordshire-spa]", with: "alternatives: [oxfordshire-mash, oxfordshire-spa]")
            try await client.execute(uri: "/v1/rules", method: .put, headers: yamlHeaders(ifMatch: "*"), body: ByteBuffer(string: changed)) {
                #expect($0.status == .ok)
            }
            let after = try await submit()
            #expect(
                try await report(after.id).deliveries.first { $0.agency == "oxfordshire-befriending" }?.alternatives == [
                    "oxfordshire-mash", "oxfordshire-spa",
                ])
            alternatives = Dictionary(uniqueKeysWithValues: try await report(before.id).deliveries.map { ($0.agency, $0.alternatives) })
            #expect(alternatives["oxfordshire-befriending"] == ["oxfordshire-spa"], "a referral keeps the alternatives it was routed with")
        }
    }

    @Test func aStaleIfMatchIs412WithTheLiveETagAndChangesNothing() async throws {
        let fixture = try GatewayFixture()
        let before = try String(contentsOfFile: fixture.rulesPath, encoding: .utf8)
        // Start as `serve` does: the rules become version 1.
        try await fixture.components.start()
        try await fixture.test { client in
            let live = try await liveRules(client)
            for stale in ["\"sha256:000000000000\"", "W/\"sha256:000000000000\""] {
                try await client.execute(
                    uri: "/v1/rules", method: .put, headers: yamlHeaders(ifMatch: stale), body: ByteBuffer(string: changedRules(live.text))
                ) { response in
                    #expect(response.status == .preconditionFailed)
                    #expect(response.headers[.eTag] == "\"\(live.version)\"")
                    try expectProblem(response, "urn:switchboard:problem:precondition-failed")
                }
            }
            try await client.execute(
                uri: "/v1/rules/rollback", method: .post,
                headers: headers(key: GatewayFixture.adminKey, extra: [("If-Match", "\"sha256:000000000000\"")]),
                body: ByteBuffer(string: #"{"version": 1}"#)
            ) { #expect($0.status == .preconditionFailed) }
            // A change that could never apply is invalid whatever version it names (RFC 9110, 13.2.1).
            try await client.execute(
                uri: "/v1/rules", method: .put, headers: yamlHeaders(ifMatch: "\"sha256:000000000000\""), body: ByteBuffer(string: "rules: []\n")
            ) { try expectProblem($0, "urn:switchboard:problem:invalid-rules") }
            // If-Match that is not * or quoted entity tags is a malformed request, not a stale one.
            for malformed in ["sha256:000000000000", "\"unterminated", "", "\"a\" \"b\""] {
                try await client.execute(
                    uri: "/v1/rules", method: .put, headers: yamlHeaders(ifMatch: malformed), body: ByteBuffer(string: changedRules(live.text))
                ) { response in
                    #expect(response.status == .unprocessableContent, "If-Match: \(malformed)")
                    try expectProblem(response, "urn:switchboard:problem:invalid-request")
                }
            }
            // A list naming the live version among others matches.
            try await client.execute(
                uri: "/v1/rules", method: .put, headers: yamlHeaders(ifMatch: "\"sha256:000000000000\", W/\"\(live.version)\""),
                body: ByteBuffer(string: live.text)
            ) { #expect($0.status == .ok) }
        }
        #expect(try String(contentsOfFile: fixture.rulesPath, encoding: .utf8) == before)
        #expect(try fixture.count("rule_versions") == 1)
        #expect(fixture.components.rules.live.current.record?.number == 1)
    }

    @Test func concurrentChangesLandOneAtATimeAndTheFileIsAlwaysTheLiveText() async throws {
        let fixture = try GatewayFixture()
        try await fixture.components.start()
        let administrator = fixture.components.rules
        let rulesPath = fixture.rulesPath
        try await fixture.test { client in
            let live = try await liveRules(client)
            let variants = (1...8).map { live.text + "# variant \($0)\n" }
            // Eight administrators change the same version at once: one wins, the others are told.
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for text in variants {
                    group.addTask {
                        try await client.execute(
                            uri: "/v1/rules", method: .put, headers: yamlHeaders(ifMatch: "\"\(live.version)\""), body: ByteBuffer(string: text)
                        ) { $0.status }
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .ok }.count == 1)
            #expect(statuses.filter { $0 == .preconditionFailed }.count == 7)
            #expect(try String(contentsOfFile: rulesPath, encoding: .utf8) == administrator.live.current.rules.text)

            // With If-Match: * every change lands, one after another.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for text in variants.reversed() {
                    group.addTask {
                        try await client.execute(uri: "/v1/rules", method: .put, headers: yamlHeaders(ifMatch: "*"), body: ByteBuffer(string: text)) {
                            #expect($0.status == .ok)
                        }
                    }
                    group.addTask { await administrator.reload(trigger: "file changed") }
                }
                try await group.waitForAll()
            }
            #expect(try String(contentsOfFile: rulesPath, encoding: .utf8) == administrator.live.current.rules.text)
        }
        let versions = try await fixture.components.store.rulesHistory(limit: 100).map(\.number)
        #expect(versions == Array((1...versions.count).reversed()), "numbered without gaps")
        #expect(versions.count >= 2 + 7, "every change after the first race was stored")
    }

    @Test func aChangeWithoutIfMatchIs428() async throws {
        let fixture = try GatewayFixture()
        // Start as `serve` does: the rules become version 1.
        try await fixture.components.start()
        try await fixture.test { client in
            let live = try await liveRules(client)
            try await client.execute(
                uri: "/v1/rules", method: .put, headers: yamlHeaders(ifMatch: nil), body: ByteBuffer(string: changedRules(live.text))
            ) {
                response in
                #expect(response.status == .preconditionRequired)
                try expectProblem(response, "urn:switchboard:problem:precondition-required")
            }
            try await client.execute(
                uri: "/v1/rules/rollback", method: .post, headers: headers(key: GatewayFixture.adminKey), body: ByteBuffer(string: #"{"version": 1}"#)
            ) { #expect($0.status == .preconditionRequired) }
        }
        #expect(try fixture.count("rule_versions") == 1)
    }

    @Test func invalidRulesAre422WithEveryProblemItsLineColumnAndPointer() async throws {
        let fixture = try GatewayFixture()
        let before = try String(contentsOfFile: fixture.rulesPath, encoding: .utf8)
        // Start as `serve` does: the rules become version 1.
        try await fixture.components.start()
        try await fixture.test { client in
            let live = try await liveRules(client)
            let broken = changedRules(live.text).replacingOccurrences(
                of: "route_to: [oxford-falls, oxfordshire-mash]", with: "route_to: [oxford-falls, the-moon]"
            )
            .replacingOccurrences(of: "      needs: district-nursing\n", with: "      needs: district-nursing\n      agee: {min: 65}\n")
            let lines = broken.split(separator: "\n", omittingEmptySubsequences: false)
            let moonLine = try #require(lines.firstIndex { $0.contains("the-moon") }) + 1
            let ageLine = try #require(lines.firstIndex { $0.contains("agee") }) + 1
            try await client.execute(uri: "/v1/rules", method: .put, headers: yamlHeaders(ifMatch: "*"), body: ByteBuffer(string: broken)) {
                response in
                #expect(response.status == .unprocessableContent)
                try expectProblem(response, "urn:switchboard:problem:invalid-rules")
                let problem = try JSONDecoder().decode(RuleProblemBody.self, from: Data(buffer: response.body))
                let errors = problem.errors ?? []
                #expect(errors.count == 2)
                let moon = try #require(errors.first { $0.detail == "unknown agency 'the-moon'" })
                #expect(moon.pointer == "/rules/3/route_to/1")
                #expect(moon.line == moonLine && moon.column == 30)
                #expect(moon.hint?.contains("oxfordshire-mash") == true)
                let age = try #require(errors.first { $0.detail.contains("'agee'") })
                #expect(age.pointer == "/rules/6/when/agee")
                #expect(age.line == ageLine)
                #expect(age.hint == "did you mean 'age'?")
            }
            // Not UTF-8 text.
            try await client.execute(uri: "/v1/rules", method: .put, headers: yamlHeaders(ifMatch: "*"), body: ByteBuffer(bytes: [0xFF, 0xFE, 0x00]))
            {
                try expectProblem($0, "urn:switchboard:problem:invalid-rules")
            }
        }
        #expect(try String(contentsOfFile: fixture.rulesPath, encoding: .utf8) == before)
        #expect(try fixture.count("rule_versions") == 1)
    }

    @Test func rulesNotSentAsYAMLAre415() async throws {
        let fixture = try GatewayFixture()
        // Start as `serve` does: the rules become version 1.
        try await fixture.components.start()
        try await fixture.test { client in
            let live = try await liveRules(client)
            var fields = headers(key: GatewayFixture.adminKey)
            fields[.ifMatch] = "*"
            try await client.execute(uri: "/v1/rules", method: .put, headers: fields, body: ByteBuffer(string: changedRules(live.text))) { response in
                #expect(response.status == .unsupportedMediaType)
                try expectProblem(response, "urn:switchboard:problem:unsupported-media-type")
            }
            for uri in ["/v1/rules/test", "/v1/rules/rollback"] {
                try await client.execute(uri: uri, method: .post, headers: yamlHeaders(ifMatch: "*"), body: ByteBuffer(string: "{}")) {
                    #expect($0.status == .unsupportedMediaType)
                }
            }
        }
        #expect(try fixture.count("rule_versions") == 1)
    }

    @Test func aStorageFaultIs500AndLeavesTheRulesAndTheFileAsTheyWere() async throws {
        let fixture = try GatewayFixture()
        let before = try String(contentsOfFile: fixture.rulesPath, encoding: .utf8)
        // Start as `serve` does: the rules become version 1.
        try await fixture.components.start()
        let databasePath = fixture.databasePath
        try await fixture.test { client in
            let live = try await liveRules(client)
            try SQLiteInspector(path: databasePath).execute("DROP TABLE rule_versions")
            try await client.execute(
                uri: "/v1/rules", method: .put, headers: yamlHeaders(ifMatch: "*"), body: ByteBuffer(string: changedRules(live.text))
            ) { response in
                #expect(response.status == .internalServerError)
                try expectProblem(response, "urn:switchboard:problem:internal-error")
            }
            for uri in ["/v1/rules/versions", "/v1/rules/versions/1"] {
                try await client.execute(uri: uri, method: .get, headers: headers(key: GatewayFixture.adminKey)) { response in
                    #expect(response.status == .internalServerError, "\(uri)")
                    try expectProblem(response, "urn:switchboard:problem:internal-error")
                }
            }
            try await client.execute(
                uri: "/v1/rules/rollback", method: .post, headers: headers(key: GatewayFixture.adminKey, extra: [("If-Match", "*")]),
                body: ByteBuffer(string: #"{"version": 1}"#)
            ) { #expect($0.status == .internalServerError) }
            // Referrals are still routed by the rules that were live.
            try await client.execute(
                uri: "/v1/referrals", method: .post, headers: headers(key: GatewayFixture.referrerKey), body: ByteBuffer(data: try exampleReferral())
            ) { response in
                let receipt = try JSONDecoder().decode(SubmissionReceipt.self, from: Data(buffer: response.body))
                #expect(receipt.rulesVersion == live.version)
            }
        }
        #expect(try String(contentsOfFile: fixture.rulesPath, encoding: .utf8) == before, "the file was put back")
    }
}
