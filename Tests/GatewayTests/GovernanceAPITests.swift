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

/// Rules and agencies that cannot slip in: where approval is required, one administrator proposes
/// and another approves, both named in the audit trail; an unapproved proposal changes nothing.
/// And agencies.yaml is governed like the rules: validated against the live rules, versioned,
/// audited and swapped in for delivery.
@Suite struct GovernanceAPITests {
    func send(
        _ client: any TestClientProtocol, _ uri: String, _ method: HTTPRequest.Method, key: String = GatewayFixture.adminKey,
        yaml: String? = nil, json: String? = nil, ifMatch: String? = "*"
    ) async throws -> (status: Int, body: Data) {
        var fields = yaml != nil ? yamlHeaders(ifMatch: ifMatch, key: key) : headers(key: key, json: json != nil)
        if yaml == nil, let ifMatch { fields[.ifMatch] = ifMatch }
        let body = yaml.map { ByteBuffer(string: $0) } ?? json.map { ByteBuffer(string: $0) }
        return try await client.execute(uri: uri, method: method, headers: fields, body: body) { (Int($0.status.code), Data(buffer: $0.body)) }
    }

    func auditDetails(_ fixture: GatewayFixture, kinds: Set<String>) async throws -> [(kind: String, actor: String?, detail: String)] {
        try await fixture.components.store.auditEvents(afterSequence: 0, limit: 1_000).filter { kinds.contains($0.kind) }.map {
            ($0.kind, $0.actor, $0.detail)
        }
    }

    @Test func anUnapprovedProposalChangesNothingAndASecondAdministratorMakesItLive() async throws {
        let fixture = try GatewayFixture(approval: [.rules])
        try await fixture.components.start()
        let before = try String(contentsOfFile: fixture.rulesPath, encoding: .utf8)
        let liveVersion = fixture.components.rules.live.current.rules.version
        let components = fixture.components
        let rulesPath = fixture.rulesPath
        try await fixture.test { client in
            let proposed = changedRules(before)
            let direct = try await send(client, "/v1/rules", .put, yaml: proposed)
            #expect(direct.status == 403)
            #expect(try JSONDecoder().decode(ProblemBody.self, from: direct.body).type == "urn:switchboard:problem:approval-required")

            let made = try await send(client, "/v1/rules/proposals", .post, yaml: proposed, ifMatch: "\"\(liveVersion)\"")
            #expect(made.status == 201)
            let proposal = try JSONDecoder().decode(ProposalDocument.self, from: made.body).proposal
            #expect(proposal.state == .pending && proposal.proposedBy == "test-admin" && proposal.baseVersion == liveVersion)
            #expect(components.rules.live.current.rules.version == liveVersion, "a proposal changes nothing")
            #expect(try String(contentsOfFile: rulesPath, encoding: .utf8) == before, "nor the file")

            let own = try await send(client, "/v1/rules/proposals/\(proposal.id)/approve", .post)
            #expect(own.status == 403, "the proposer cannot approve their own change")
            let approved = try await send(client, "/v1/rules/proposals/\(proposal.id)/approve", .post, key: GatewayFixture.secondAdminKey)
            #expect(approved.status == 200)
            let result = try JSONDecoder().decode(RulesChangeResult.self, from: approved.body)
            #expect(result.applied && result.previousVersion == liveVersion)
            #expect(components.rules.live.current.rules.version == result.version)
            #expect(try String(contentsOfFile: rulesPath, encoding: .utf8) == proposed)
            let again = try await send(client, "/v1/rules/proposals/\(proposal.id)/approve", .post, key: GatewayFixture.secondAdminKey)
            #expect(again.status == 409)
            let listed = try await send(client, "/v1/rules/proposals", .get)
            #expect(try JSONDecoder().decode(ProposalList.self, from: listed.body).proposals.map(\.state) == [.approved])
        }
        let trail = try await auditDetails(fixture, kinds: ["change.proposed", "rules.applied", "change.approved"])
        #expect(trail.map(\.kind) == ["rules.applied", "change.proposed", "rules.applied", "change.approved"])
        #expect(trail[1].actor == "test-admin")
        #expect(trail[2].actor == "second-admin" && trail[2].detail.contains("approved by second-admin"))
        #expect(trail[3].detail.contains("by test-admin approved by second-admin"))
        let history = try await fixture.components.store.rulesHistory(limit: 5)
        #expect(history.first?.source == "approval" && history.first?.appliedBy == "second-admin")
    }

    @Test func aProposalOvertakenByAnotherChangeIsSupersededAndARejectionKeepsItsReasonOutOfTheTrail() async throws {
        let fixture = try GatewayFixture(approval: [.rules])
        try await fixture.components.start()
        let text = try String(contentsOfFile: fixture.rulesPath, encoding: .utf8)
        try await fixture.test { client in
            let first = try JSONDecoder().decode(
                ProposalDocument.self, from: try await send(client, "/v1/rules/proposals", .post, yaml: changedRules(text)).body
            ).proposal
            let second = try JSONDecoder().decode(
                ProposalDocument.self, from: try await send(client, "/v1/rules/proposals", .post, yaml: text + "\n# a comment\n").body
            ).proposal
            #expect(try await send(client, "/v1/rules/proposals/\(second.id)/approve", .post, key: GatewayFixture.secondAdminKey).status == 200)
            let stale = try await send(client, "/v1/rules/proposals/\(first.id)/approve", .post, key: GatewayFixture.secondAdminKey)
            #expect(stale.status == 412, "made against a version that is no longer live")
            let shown = try JSONDecoder().decode(ProposalDocument.self, from: try await send(client, "/v1/rules/proposals/\(first.id)", .get).body)
            #expect(shown.proposal.state == .superseded)

            let third = try JSONDecoder().decode(
                ProposalDocument.self, from: try await send(client, "/v1/rules/proposals", .post, yaml: changedRules(text)).body
            ).proposal
            let rejected = try await send(
                client, "/v1/rules/proposals/\(third.id)/reject", .post, key: GatewayFixture.secondAdminKey,
                json: #"{"reason": "Mrs Example's case shows falls must also go to the hub"}"#, ifMatch: nil)
            #expect(rejected.status == 200)
            let decision = try JSONDecoder().decode(ProposalDocument.self, from: rejected.body).proposal.decision
            #expect(decision?.state == .rejected && decision?.by == "second-admin")
            #expect(decision?.reason == "Mrs Example's case shows falls must also go to the hub")
        }
        let texts = try await fixture.components.store.auditEvents(afterSequence: 0, limit: 1_000).map(\.detail)
        #expect(!texts.contains { $0.contains("Mrs Example") }, "a reason typed by a person stays out of the audit trail")
        #expect(
            try await auditDetails(fixture, kinds: ["change.superseded", "change.rejected"]).map(\.kind) == ["change.superseded", "change.rejected"])
    }

    @Test func whereApprovalIsRequiredAnEditedRulesFileIsNotLoaded() async throws {
        let fixture = try GatewayFixture(approval: [.rules])
        try await fixture.components.start()
        let live = fixture.components.rules.live.current.rules.version
        let text = try String(contentsOfFile: fixture.rulesPath, encoding: .utf8)
        try changedRules(text).write(toFile: fixture.rulesPath, atomically: true, encoding: .utf8)
        #expect(await fixture.components.rules.reload(trigger: "SIGHUP") == nil)
        #expect(fixture.components.rules.live.current.rules.version == live)
        let rejected = try await auditDetails(fixture, kinds: ["rules.rejected"])
        #expect(rejected.count == 1 && rejected[0].detail.contains("stays live"))
    }

    @Test func whereApprovalIsRequiredARestartKeepsTheApprovedVersionNotAnEditedFile() async throws {
        let fixture = try GatewayFixture(approval: [.rules, .agencies])
        try await fixture.components.start()
        let approved = fixture.components.rules.live.current
        try changedRules(try String(contentsOfFile: fixture.rulesPath, encoding: .utf8))
            .write(toFile: fixture.rulesPath, atomically: true, encoding: .utf8)
        try (try String(contentsOfFile: fixture.agenciesPath, encoding: .utf8) + "# edited\n")
            .write(toFile: fixture.agenciesPath, atomically: true, encoding: .utf8)
        let restarted = try fixture.restarted()
        try await restarted.start()
        #expect(restarted.rules.live.current.rules.version == approved.rules.version)
        #expect(restarted.rules.live.current.agencies.version == approved.agencies.version)
        let rejected = try await auditDetails(fixture, kinds: ["rules.rejected"]).map(\.detail)
        #expect(rejected.count == 2)
        #expect(rejected.allSatisfy { $0.contains("differs from approved version 1") })
        #expect(try await fixture.components.store.rulesHistory(limit: 5).count == 1, "the edit was not stored as a version")
    }

    @Test func agenciesAreChangedLikeRulesAndTheDispatcherDeliversToTheNewOne() async throws {
        let fixture = try GatewayFixture()
        try await fixture.components.start()
        let agencies = try String(contentsOfFile: fixture.agenciesPath, encoding: .utf8)
        let added = agencies + "\n  - {id: carers-hub, name: Oxfordshire Carers Hub, adapter: json-webhook, endpoint: 'http://127.0.0.1:9/in'}\n"
        let components = fixture.components
        let rulesPath = fixture.rulesPath
        let agenciesPath = fixture.agenciesPath
        try await fixture.test { client in
            let live = try JSONDecoder().decode(LiveAgenciesDocument.self, from: try await send(client, "/v1/agencies", .get).body)
            #expect(live.number == 1 && live.text == agencies && !live.approvalRequired)
            let applied = try await send(client, "/v1/agencies", .put, yaml: added, ifMatch: "\"\(live.version)\"")
            #expect(applied.status == 200)
            let result = try JSONDecoder().decode(RulesChangeResult.self, from: applied.body)
            #expect(result.number == 2 && result.summary == "agencies added: carers-hub")
            #expect(components.dispatcher.laneConcurrency["carers-hub"] == 8, "the dispatcher has its lane")
            #expect(try String(contentsOfFile: agenciesPath, encoding: .utf8) == added)
            // Rules may now route to it.
            let rules = try String(contentsOfFile: rulesPath, encoding: .utf8)
            let naming = rules.replacingOccurrences(
                of: "route_to: oxfordshire-befriending\n", with: "route_to: [oxfordshire-befriending, carers-hub]\n")
            #expect(try await send(client, "/v1/rules", .put, yaml: naming).status == 200)

            // Removing it now would leave a rule routing nowhere: refused, with the rules file's line.
            let removed = try await send(client, "/v1/agencies", .put, yaml: agencies)
            #expect(removed.status == 422)
            let problem = try JSONDecoder().decode(RuleProblemBody.self, from: removed.body)
            #expect((problem.errors ?? []).contains { $0.detail.hasPrefix("rules.yaml: ") && $0.detail.contains("carers-hub") && $0.line != nil })
            #expect(components.dispatcher.laneConcurrency["carers-hub"] != nil, "nothing changed")

            // A secret the gateway's environment does not have is refused too.
            let secret = added.replacingOccurrences(
                of: "endpoint: 'http://127.0.0.1:9/in'}", with: "endpoint: 'http://127.0.0.1:9/in', secret_env: NOT_SET_ANYWHERE}")
            let missing = try await send(client, "/v1/agencies", .put, yaml: secret)
            #expect(missing.status == 422)
            #expect(String(decoding: missing.body, as: UTF8.self).contains("NOT_SET_ANYWHERE"))

            let versions = try JSONDecoder().decode(RulesVersionList.self, from: try await send(client, "/v1/agencies/versions", .get).body)
            #expect(versions.versions.map(\.number) == [2, 1])
        }
        let trail = try await auditDetails(fixture, kinds: ["agencies.applied"])
        #expect(trail.map(\.actor) == ["gateway", "test-admin"])
    }
}
