import APIDocuments
import Deployment
import Foundation
import Gateway
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import ReferralModel
import Settings
import Storage
import Testing
import UseCases

/// Keys belong to someone: made for a named owner, shown once, stored as a digest, revoked or
/// rotated without a restart, and every action audited in the owner's name.
@Suite struct KeysAPITests {
    func send(
        _ client: any TestClientProtocol, _ uri: String, _ method: HTTPRequest.Method = .post, key: String = GatewayFixture.adminKey,
        json: String? = nil, yaml: String? = nil, ifMatch: String? = nil
    ) async throws -> (status: Int, body: Data) {
        var fields = yaml != nil ? yamlHeaders(ifMatch: ifMatch, key: key) : headers(key: key, json: json != nil)
        if yaml == nil, let ifMatch { fields[.ifMatch] = ifMatch }
        let body = yaml.map { ByteBuffer(string: $0) } ?? json.map { ByteBuffer(string: $0) }
        return try await client.execute(uri: uri, method: method, headers: fields, body: body) { (Int($0.status.code), Data(buffer: $0.body)) }
    }

    func issue(_ client: any TestClientProtocol, _ json: String) async throws -> KeyAdministration.Issued {
        let made = try await send(client, "/v1/keys", json: json)
        #expect(made.status == 201, "\(String(decoding: made.body, as: UTF8.self))")
        return try JSONDecoder().decode(KeyAdministration.Issued.self, from: made.body)
    }

    func submit(_ client: any TestClientProtocol, key: String) async throws -> Int {
        try await client.execute(uri: "/v1/referrals", method: .post, headers: headers(key: key), body: ByteBuffer(data: try exampleReferral())) {
            Int($0.status.code)
        }
    }

    @Test func aKeyMadeForAnOwnerWorksIsShownOnceAndIsAuditedWithoutItsSecret() async throws {
        let fixture = try GatewayFixture()
        let store = fixture.components.store
        try await fixture.test { client in
            let issued = try await issue(
                client, #"{"id": "botley-reception", "owner": "Botley Medical Centre reception", "role": "referrer", "organisations": ["K84001"]}"#)
            #expect(issued.key.hasPrefix("sbk_") && issued.key.count > 40)
            #expect(issued.details.owner == "Botley Medical Centre reception" && issued.details.state == "live")
            #expect(try await submit(client, key: issued.key) == 202)
            let listed = try await send(client, "/v1/keys", .get)
            let text = String(decoding: listed.body, as: UTF8.self)
            #expect(listed.status == 200 && text.contains("botley-reception") && text.contains(#""source":"configuration""#))
            #expect(!text.contains(issued.key), "a key is shown once, when it is made")
            let events = try await store.auditEvents(afterSequence: 0, limit: 1_000)
            let created = try #require(events.first { $0.kind == "key.created" })
            #expect(created.actor == "test-admin")
            #expect(created.detail == "key botley-reception (referrer for K84001) for Botley Medical Centre reception; no expiry")
            let digest = Hex.encode(APIKey.digest(of: issued.key))
            #expect(!events.contains { $0.detail.contains(issued.key) || $0.detail.contains(digest) })
        }
    }

    @Test func aRevokedKeyIsRefusedAtOnceAndAConfiguredOneIsChangedInTheFile() async throws {
        let fixture = try GatewayFixture()
        try await fixture.test { client in
            let issued = try await issue(client, #"{"owner": "Headington Surgery's EPR", "role": "referrer"}"#)
            #expect(try await submit(client, key: issued.key) == 202)
            let revoked = try await send(client, "/v1/keys/\(issued.details.id)/revoke")
            #expect(revoked.status == 200)
            #expect(try JSONDecoder().decode(KeyListing.self, from: revoked.body).state == "revoked")
            #expect(try await submit(client, key: issued.key) == 401)
            #expect(try await send(client, "/v1/keys/\(issued.details.id)/revoke").status == 404, "revoked once")
            let configured = try await send(client, "/v1/keys/test-gp/revoke")
            #expect(configured.status == 409)
            #expect(String(decoding: configured.body, as: UTF8.self).contains("switchboard.yaml"))
        }
    }

    @Test func aRotatedKeyKeepsItsOldSecretForTheOverlapOnly() async throws {
        let fixture = try GatewayFixture()
        try await fixture.test { client in
            let first = try await issue(client, #"{"owner": "Oxford EDT", "role": "referrer"}"#)
            let overlapping = try await send(client, "/v1/keys/\(first.details.id)/rotate", json: #"{"overlapSeconds": 600}"#)
            #expect(overlapping.status == 200)
            let second = try JSONDecoder().decode(KeyAdministration.Issued.self, from: overlapping.body)
            #expect(second.key != first.key && second.details.previousSecretUntil != nil)
            #expect(try await submit(client, key: first.key) == 202, "the old secret, within the overlap")
            #expect(try await submit(client, key: second.key) == 202)
            let sharp = try await send(client, "/v1/keys/\(first.details.id)/rotate")
            let third = try JSONDecoder().decode(KeyAdministration.Issued.self, from: sharp.body)
            #expect(try await submit(client, key: second.key) == 401, "no overlap: refused at once")
            #expect(try await submit(client, key: third.key) == 202)
        }
        let rotated = try await fixture.components.store.auditEvents(afterSequence: 0, limit: 1_000).filter { $0.kind == "key.rotated" }
        #expect(rotated.count == 2 && rotated[0].detail.contains("accepted until") && rotated[1].detail.contains("refused from now"))
    }

    @Test func badKeyRequestsAre422WithEveryProblem() async throws {
        let fixture = try GatewayFixture()
        try await fixture.test { client in
            let bad = try await send(
                client, "/v1/keys",
                json: #"{"id": "Bad Id", "owner": "", "role": "agency", "organisations": ["nope"], "expiresAt": "2001-01-01T00:00:00Z"}"#)
            #expect(bad.status == 422)
            let pointers = Set(try JSONDecoder().decode(ProblemBody.self, from: bad.body).errors?.map(\.pointer) ?? [])
            #expect(pointers == ["/id", "/owner", "/organisations", "/organisations/0", "/agency", "/expiresAt"])
            let unknownAgency = try await send(client, "/v1/keys", json: #"{"owner": "A team", "role": "agency", "agency": "the-moon"}"#)
            #expect(unknownAgency.status == 422)
            #expect(try await send(client, "/v1/keys", json: #"{"id": "test-gp", "owner": "X", "role": "referrer"}"#).status == 409)
        }
        #expect(try fixture.count("api_keys") == 0)
    }

    @Test func approvalsNameTheOwnerAndOnePersonsTwoKeysCannotApproveTheirOwnChange() async throws {
        let fixture = try GatewayFixture(approval: [.rules])
        try await fixture.components.start()
        let liveVersion = fixture.components.rules.live.current.rules.version
        let before = try String(contentsOfFile: fixture.rulesPath, encoding: .utf8)
        try await fixture.test { client in
            let alex = try await issue(client, #"{"owner": "Alex Commissioner", "role": "admin"}"#)
            let alexAgain = try await issue(client, #"{"owner": "Alex Commissioner", "role": "admin"}"#)
            let bea = try await issue(client, #"{"owner": "Bea Safeguarding Lead", "role": "admin"}"#)
            let made = try await send(
                client, "/v1/rules/proposals", key: alex.key, yaml: changedRules(before), ifMatch: "\"\(liveVersion)\"")
            #expect(made.status == 201)
            let proposal = try JSONDecoder().decode(ProposalDocument.self, from: made.body).proposal
            #expect(proposal.proposedBy == "Alex Commissioner")
            #expect(try await send(client, "/v1/rules/proposals/\(proposal.id)/approve", key: alexAgain.key).status == 403)
            #expect(try await send(client, "/v1/rules/proposals/\(proposal.id)/approve", key: bea.key).status == 200)
        }
        let approved = try await fixture.components.store.auditEvents(afterSequence: 0, limit: 1_000).first { $0.kind == "change.approved" }
        #expect(approved?.actor == "Bea Safeguarding Lead")
        #expect(approved?.detail.contains("by Alex Commissioner approved by Bea Safeguarding Lead") == true)
    }

    @Test func editingSwitchboardYAMLAndReloadingRevokesAConfiguredKey() async throws {
        let fixture = try GatewayFixture()
        let path = fixture.directory.appendingPathComponent("switchboard.yaml").path
        let watcher = fixture.components.keysWatcher
        try await fixture.test { client in
            #expect(try await submit(client, key: GatewayFixture.otherReferrerKey) == 202)
            let yaml = try String(contentsOfFile: path, encoding: .utf8)
            let without = yaml.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.contains("id: other-gp") }
                .joined(separator: "\n")
            try without.write(toFile: path, atomically: true, encoding: .utf8)
            await watcher.reloadConfigured()
            #expect(try await submit(client, key: GatewayFixture.otherReferrerKey) == 401)
            #expect(try await submit(client, key: GatewayFixture.referrerKey) == 202)
        }
        let reloaded = try await fixture.components.store.auditEvents(afterSequence: 0, limit: 1_000).first { $0.kind == "keys.reloaded" }
        #expect(reloaded?.detail.contains("removed, and refused from now: other-gp") == true)
    }
}
