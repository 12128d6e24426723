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

/// A request to send, and the key of the role it is sent as.
struct ScenarioRequest {
    var uri: String
    var headers: HTTPFields
    var body: ByteBuffer?
}

/// Causes each documented response through the real router, over a gateway of its own, and
/// reports the status it got. The list of what must be caused comes from `openapi.yaml`: a response
/// added to the document fails here until there is a way to cause it, and one that can no longer
/// happen fails too. The tests in DocumentedErrorTests, IntakeTests and the rules API tests check
/// each response's body and effects in depth.
@Suite struct DocumentedResponseTests {
    @Test(arguments: try documentedResponses())
    func everyDocumentedResponseHappens(_ response: DocumentedResponse) async throws {
        // A 503 is a store that cannot take writes: one whose reserve of free space no disk here meets.
        // A rollback answers 201 where changes need approval: it is proposed.
        let proposes = response.status == 201 && response.path.hasSuffix("/rollback")
        let fixture = try GatewayFixture(
            rateLimit: 0.01, burst: 3, approval: proposes ? [.rules, .agencies] : [], storageReserveMB: response.status == 503 ? 1_000_000 : 0,
            // The audit log's 404: a deployment that keeps no transparency log.
            transparency: !(response.status == 404 && response.path.hasPrefix("/v1/audit")))
        try await fixture.components.start()
        let observed = try await cause(response, fixture: fixture)
        #expect(observed == response.status, "\(response.testDescription): got \(observed.map(String.init) ?? "no way to cause it")")
    }

    /// The key of a role that may call the operation, or nil for `anyone`.
    func allowedKey(_ response: DocumentedResponse) -> String? {
        if response.roles.contains("anyone") { return nil }
        if response.roles.contains("referrer") { return GatewayFixture.referrerKey }
        if response.roles == ["governance"] { return GatewayFixture.governanceKey }
        return response.roles.contains("admin") ? GatewayFixture.adminKey : GatewayFixture.agencyKey
    }

    /// Sends what causes `response` and returns the status that came back; nil when nothing here
    /// knows how to cause it.
    func cause(_ response: DocumentedResponse, fixture: GatewayFixture) async throws -> Int? {
        let key = allowedKey(response)
        var request = try validRequest(response, key: key, fixture: fixture)
        var before: [ScenarioRequest] = []
        let operation = "\(response.method.rawValue) \(response.path)"
        // A proposal's own operations need a proposal: made by another administrator, pending.
        let document: GovernedDocument = response.path.hasPrefix("/v1/agencies") ? .agencies : .rules
        if response.path.contains("/proposals/{id}"), [200, 400, 409, 412, 415, 422].contains(response.status) {
            let id = try await propose(document, fixture: fixture)
            request.uri = request.uri.replacingOccurrences(of: request.uri.split(separator: "/")[3], with: id)
        }
        // A referral's proofs need a referral its key may read, in the integrated tree.
        if operation == "GET /v1/audit/proof", response.status == 200 {
            request.uri = "/v1/audit/proof?referral=\(try await deliveredToTheCouncil(fixture))"
            try await fixture.components.transparency?.integrate()
        }
        // The closed loop's operations need a referral delivered to the agency key's agency, or an open attention item.
        if operation == "POST /v1/referrals/{id}/status", [200, 409].contains(response.status) {
            request.uri = "/v1/referrals/\(try await deliveredToTheCouncil(fixture))/status"
            if response.status == 409 { request.body = ByteBuffer(string: #"{"status": "completed"}"#) }
        }
        if operation == "POST /v1/referrals/{id}/amendments", [200, 400, 409, 415, 422, 500].contains(response.status) {
            // The referrer's own referral (the fixture's referrer key is test-gp's).
            let id = try await deliveredToTheCouncil(fixture)
            request.uri = "/v1/referrals/\(id)/amendments"
            if response.status == 409 {
                _ = try await fixture.components.loop.cancel(referralId: id, actor: "test-gp", organisations: nil, reason: "first")
            }
        }
        if operation == "POST /v1/referrals/{id}/cancel", [200, 409].contains(response.status) {
            let id = try await deliveredToTheCouncil(fixture)
            request.uri = "/v1/referrals/\(id)/cancel"
            if response.status == 409 {
                // Cancelled already: nobody is acting on it.
                _ = try await fixture.components.loop.cancel(referralId: id, actor: "test-gp", organisations: nil, reason: "first")
            }
        }
        // Revoking and rotating need a managed key; a key written in switchboard.yaml is a conflict.
        if response.path.hasPrefix("/v1/keys/{id}") {
            if response.status == 409 {
                request.uri = request.uri.replacingOccurrences(of: "no-such-key", with: "test-admin")
            } else if response.status != 404 {
                let made = try await fixture.components.keyAdministration.create(
                    .init(id: "made-for-test", owner: "Dr Test", role: "referrer", organisations: nil, agency: nil, expiresAt: nil), by: "test")
                request.uri = request.uri.replacingOccurrences(of: "no-such-key", with: made.details.id)
            }
        }
        if operation == "POST /v1/keys", response.status == 409 {
            request.body = ByteBuffer(string: #"{"id": "test-admin", "owner": "Dr Test", "role": "admin"}"#)
        }
        if operation == "POST /v1/attention/{id}/resolve", response.status == 200 {
            request.uri = "/v1/attention/\(try await attentionItem(fixture))/resolve"
        }
        switch response.status {
        case 201 where operation.hasSuffix("/rollback"):
            // A second version, made live by a second administrator's approval, to go back from.
            _ = try await fixture.components.rules.approve(try await propose(document, fixture: fixture), actor: "test-admin")
        case 200, 201, 202:
            if operation == "POST /v1/agencies/rollback" {
                before.append(
                    try validRequest(DocumentedResponse(method: .put, path: "/v1/agencies", status: 200, roles: []), key: key, fixture: fixture))
            }
            if operation == "POST /v1/records/{id}/rectify" {
                request.uri = "/v1/records/\(try await submit(fixture).id)/rectify"
            }
            if operation == "POST /v1/records/{id}/erase" {
                // A referral to erase; one with a safeguarding delivery open waits for a second person.
                let receipt = try await submit(fixture, example: response.status == 202 ? "referral-safeguarding" : "referral-falls")
                request.uri = "/v1/records/\(receipt.id)/erase"
            }
            if operation == "GET /v1/referrals/{id}" {
                // A referral that exists: submitted first.
                let receipt = try await submit(fixture)
                request.uri = "/v1/referrals/\(receipt.id)"
            }
            if operation == "POST /v1/rules/rollback" {
                before.append(
                    try validRequest(DocumentedResponse(method: .put, path: "/v1/rules", status: 200, roles: []), key: key, fixture: fixture))
            }
        case 400:
            request.body = ByteBuffer(string: "{\"needs\": [")
        case 401:
            request.headers[.authorization] = nil
        case 403 where operation == "GET /v1/referrals/{id}":
            // Every role may ask; an agency key that answers for no agency may not see.
            request.headers[.authorization] = "Bearer " + GatewayFixture.unboundAgencyKey
        case 403:
            request.headers[.authorization] = "Bearer " + (response.roles.contains("admin") ? GatewayFixture.agencyKey : GatewayFixture.adminKey)
        case 404:
            switch operation {
            case "POST /FHIR/R4/$process-message": request.body = try FHIRMessageTests.validRequest(reason: "cancel")
            case "POST /v1/rules/rollback": request.body = ByteBuffer(string: #"{"version": 99}"#)
            case "GET /v1/rules/versions/{number}": request.uri = "/v1/rules/versions/99"
            case "POST /v1/agencies/{agency}/pause": request.uri = "/v1/agencies/no-such-agency/pause"
            case "POST /v1/agencies/{agency}/resume": request.uri = "/v1/agencies/no-such-agency/resume"
            case "POST /v1/agencies/{agency}/ping": request.uri = "/v1/agencies/no-such-agency/ping"
            case "POST /v1/agencies/test": request.uri = "/v1/agencies/test?agency=no-such-agency"
            case "POST /v1/agencies/rollback": request.body = ByteBuffer(string: #"{"version": 99}"#)
            case "GET /v1/agencies/versions/{number}": request.uri = "/v1/agencies/versions/99"
            default: break  // an id nobody was given
            }
        case 409 where response.path.hasPrefix("/v1/keys"):
            break
        case 409 where operation == "POST /FHIR/R4/$process-message":
            // A different message for a ServiceRequest already received as new.
            before.append(request)
            request.body = try FHIRMessageTests.validRequest { bundle in FHIRMessageTests.edit(&bundle, "Patient") { $0["gender"] = "other" } }
        case 409 where response.path.contains("/proposals/{id}"):
            // Decided already: rejected before this request.
            let id = String(request.uri.split(separator: "/")[3])
            _ = try await fixture.components.rules.reject(id, actor: "other-admin", reason: nil)
        case 409:
            request.headers[HTTPField.Name("Idempotency-Key")!] = "same-key"
            var first = request
            first.body = ByteBuffer(data: try exampleReferral("referral-crisis"))
            before.append(first)
        case 412 where response.path.hasSuffix("/approve"):
            // The document changed after the proposal was made against it: it is superseded.
            try await changeDirectly(document, fixture: fixture)
        case 412:
            request.headers[.ifMatch] = "\"sha256:000000000000\""
        case 413:
            request.headers[.contentLength] = String((1 << 20) + 1)
            request.body = ByteBuffer(repeating: UInt8(ascii: " "), count: (1 << 20) + 1)
        case 415:
            request.headers[.contentType] = "text/plain"
        case 422:
            switch operation {
            case "POST /v1/referrals": request.body = ByteBuffer(string: #"{"needs": ["juggling"]}"#)
            case "POST /FHIR/R4/$process-message": request.body = try FHIRMessageTests.example("servicerequest-request")
            case "PUT /v1/rules": request.body = ByteBuffer(string: "rules: []\nfallback: the-moon\n")
            case "POST /v1/rules/test": request.body = ByteBuffer(string: #"{"referral": {"needs": 3}}"#)
            case "POST /v1/rules/rollback": request.body = ByteBuffer(string: #"{"version": "one"}"#)
            case "GET /v1/queue/dead": request.uri = "/v1/queue/dead?limit=0"
            case "GET /v1/records": request.uri = "/v1/records?nhsNumber=123&reason=SAR-1"
            case "GET /v1/audit/checkpoint": request.uri = "/v1/audit/checkpoint?size=1"
            case "GET /v1/audit/proof": request.uri = "/v1/audit/proof?old_size=-1"
            case "POST /v1/records/{id}/erase": request.body = ByteBuffer(string: #"{"reason": ""}"#)
            case "POST /v1/records/{id}/rectify": request.body = ByteBuffer(string: #"{"reason": "RECT-1", "subject": "Smith"}"#)
            case "POST /v1/queue/retry": request.body = ByteBuffer(string: #"{"deliveries": "all"}"#)
            case "POST /v1/agencies/{agency}/pause": request.body = ByteBuffer(string: #"{"reason": 5}"#)
            case "POST /v1/referrals/{id}/status": request.body = ByteBuffer(string: #"{"status": "declined"}"#)
            case "POST /v1/referrals/{id}/cancel": request.body = ByteBuffer(string: #"{"reason": ""}"#)
            case "POST /v1/referrals/{id}/amendments": request.body = ByteBuffer(string: #"{"subject": {"postcode": "nowhere"}}"#)
            case "GET /v1/agency/referrals": request.uri = "/v1/agency/referrals?limit=0"
            case "POST /v1/attention/{id}/resolve": request.body = ByteBuffer(string: #"{"action": "fly"}"#)
            case "POST /v1/keys": request.body = ByteBuffer(string: #"{"owner": "Dr Test", "role": "wizard"}"#)
            case "POST /v1/keys/{id}/rotate": request.body = ByteBuffer(string: #"{"overlapSeconds": -1}"#)
            case "PUT /v1/agencies", "POST /v1/agencies/proposals", "POST /v1/agencies/test":
                request.body = ByteBuffer(string: "agencies:\n  - {id: x, name: X, adapter: carrier-pigeon, endpoint: 'http://127.0.0.1:1/'}\n")
            case "POST /v1/rules/proposals": request.body = ByteBuffer(string: "rules: []\nfallback: the-moon\n")
            case "POST /v1/rules/impact": request.uri = "/v1/rules/impact?days=0"
            case "POST /v1/agencies/impact":
                request.body = ByteBuffer(string: "agencies:\n  - {id: x, name: X, adapter: carrier-pigeon, endpoint: 'http://127.0.0.1:1/'}\n")
            case "POST /v1/agencies/rollback": request.body = ByteBuffer(string: #"{"version": "one"}"#)
            case "POST /v1/rules/proposals/{id}/reject", "POST /v1/agencies/proposals/{id}/reject":
                request.body = ByteBuffer(string: #"{"reason": 7}"#)
            case "POST /v1/rules/proposals/{id}/approve", "POST /v1/agencies/proposals/{id}/approve":
                // What it depends on changed since: it no longer validates.
                let id = String(request.uri.split(separator: "/")[3])
                request.uri = request.uri.replacingOccurrences(of: id, with: try await breakProposal(document, id: id, fixture: fixture))
            default: return nil
            }
        case 428:
            request.headers[.ifMatch] = nil
        case 503:
            break
        case 429:
            // The fixture allows a burst of three requests a key.
            before += Array(repeating: request, count: 3)
        case 500:
            // Break the table the operation needs behind the gateway's back.
            let table =
                response.path.hasSuffix("/status") || response.path.hasSuffix("/cancel") || response.path.hasSuffix("/impact")
                ? "referrals"
                : response.path.hasPrefix("/v1/keys")
                    ? "api_keys"
                    : response.path.hasPrefix("/v1/attention")
                        ? "attention"
                        : response.path.contains("/proposals")
                            ? "change_proposals"
                            : response.path.hasPrefix("/v1/rules")
                                ? "rule_versions"
                                : response.path.hasSuffix("/ping") || response.path == "/v1/agencies/test"
                                    ? "audit_events"
                                    : response.path.contains("{agency}")
                                        ? "agency_lanes" : response.path.hasPrefix("/v1/agencies") ? "agency_versions" : "deliveries"
            if operation == "GET /v1/referrals/{id}" {
                request.uri = "/v1/referrals/\(try await submit(fixture).id)"
            }
            try SQLiteInspector(path: fixture.databasePath).execute("DROP TABLE \(table)")
        default:
            return nil
        }
        // Ready means delivering too, as under `serve`.
        let dispatcher = fixture.components.dispatcher
        let delivering = operation == "GET /readyz" ? Task { try await dispatcher.run() } : nil
        defer { delivering?.cancel() }
        while delivering != nil, !dispatcher.isRunning { try await Task.sleep(for: .milliseconds(10)) }
        // A test delivery needs the transport running, as it is under `serve`.
        let curl = fixture.components.transport
        let pings = operation.hasSuffix("/ping") || operation == "POST /v1/agencies/test"
        let transport = pings ? Task { try await curl.run() } : nil
        defer { transport?.cancel() }
        let prepared = before
        let final = request
        return try await withRouter(fixture) { client in
            for earlier in prepared {
                try await client.execute(uri: earlier.uri, method: response.method, headers: earlier.headers, body: earlier.body) { _ in }
            }
            var status = try await client.execute(uri: final.uri, method: response.method, headers: final.headers, body: final.body) {
                Int($0.status.code)
            }
            // Readiness asks the store for a write within 2 s, which many stores fsyncing on one busy
            // disk can miss; a load balancer asks again, and so does this, within its 5 s Retry-After.
            for _ in 0..<5 where operation == "GET /readyz" && response.status == 200 && status == 503 {
                try await Task.sleep(for: .seconds(1.1))
                status = try await client.execute(uri: final.uri, method: response.method, headers: final.headers) { Int($0.status.code) }
            }
            return status
        }
    }

    /// A pending proposal of `document`, by an administrator other than the fixture's key.
    func propose(_ document: GovernedDocument, fixture: GatewayFixture) async throws -> String {
        let text =
            document == .rules ? changedRules(try String(contentsOfFile: fixture.rulesPath, encoding: .utf8)) : try changedAgencies(fixture)
        return try await fixture.components.rules.propose(text, to: document, ifMatch: ["*"], actor: "other-admin").proposal.id
    }

    /// A change to `document` made without a proposal, so pending ones are made against an old version.
    func changeDirectly(_ document: GovernedDocument, fixture: GatewayFixture) async throws {
        let live = fixture.components.rules.live.current.text(of: document)
        _ = try await fixture.components.rules.apply(live + "\n# changed meanwhile\n", to: document, ifMatch: ["*"], actor: "other-admin")
    }

    /// Makes a pending proposal invalid without superseding it: a rules proposal names an agency
    /// that is then removed; an agencies proposal lacks an agency the rules then come to name.
    /// - Returns: the broken proposal's id.
    func breakProposal(_ document: GovernedDocument, id: String, fixture: GatewayFixture) async throws -> String {
        let administrator = fixture.components.rules
        let agencies = administrator.live.current.agencies.text
        let rules = administrator.live.current.rules.text
        let extra = agencies + "\n  - {id: extra-team, name: Extra team, adapter: json-webhook, endpoint: 'http://127.0.0.1:9/'}\n"
        let naming = rules.replacingOccurrences(of: "route_to: oxford-falls\n", with: "route_to: [oxford-falls, extra-team]\n")
        _ = try await administrator.reject(id, actor: "other-admin", reason: nil)
        _ = try await administrator.apply(extra, to: .agencies, ifMatch: ["*"], actor: "other-admin")
        if document == .rules {
            let proposal = try await administrator.propose(naming, to: .rules, ifMatch: ["*"], actor: "other-admin").proposal.id
            _ = try await administrator.apply(agencies, to: .agencies, ifMatch: ["*"], actor: "other-admin")
            return proposal
        }
        let proposal = try await administrator.propose(agencies, to: .agencies, ifMatch: ["*"], actor: "other-admin").proposal.id
        _ = try await administrator.apply(naming, to: .rules, ifMatch: ["*"], actor: "other-admin")
        return proposal
    }

    /// A referral routed to the council's front door (the agency key's agency) and delivered there.
    func deliveredToTheCouncil(_ fixture: GatewayFixture) async throws -> ReferralID {
        let body = String(decoding: try exampleReferral("referral-carer-out-of-area"), as: UTF8.self)
            .replacingOccurrences(of: "RG1 1AA", with: "OX4 1AA")
            .replacingOccurrences(of: #""needs": ["carers-support", "befriending"]"#, with: #""needs": ["housing-support"]"#)
        let receipt = try await fixture.components.intake.submit(Array(body.utf8), actor: "test-gp", idempotencyKey: nil).receipt
        let store = fixture.components.store
        let leased = try await store.leaseDueDeliveries(
            now: fixture.components.clock.now(), lanes: [LaneDemand(agency: "oxfordshire-spa", limit: 10, leaseDuration: 30)])
        _ = try await store.finish(
            leased.map { DeliveryCompletion(lease: $0, result: .delivered(agencyReference: nil), audit: [], at: fixture.components.clock.now()) })
        return receipt.id
    }

    /// An open attention item: the council declines a referral nobody else may take.
    func attentionItem(_ fixture: GatewayFixture) async throws -> String {
        let id = try await deliveredToTheCouncil(fixture)
        _ = try await fixture.components.loop.answer(
            referralId: id, agency: "oxfordshire-spa", actor: "test-agency", answer: .declined, reason: .noCapacity, text: nil)
        return try #require(try await fixture.components.loop.attention().first?.id)
    }

    func submit(_ fixture: GatewayFixture, example: String = "referral-falls") async throws -> SubmissionReceipt {
        let accepted = try await fixture.components.intake.submit(Array(try exampleReferral(example)), actor: "test-gp", idempotencyKey: nil)
        return accepted.receipt
    }

    func withRouter<Value: Sendable>(
        _ fixture: GatewayFixture, _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Value
    ) async throws -> Value {
        let app = Application(router: fixture.application.router)
        return try await app.test(.router, body)
    }
}
