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

extension DocumentedResponseTests {
    /// A request that succeeds, for the operation, sent with `key`.
    func validRequest(_ response: DocumentedResponse, key: String?, fixture: GatewayFixture) throws -> ScenarioRequest {
        switch (response.method, response.path) {
        case (.post, "/v1/referrals"):
            return ScenarioRequest(uri: response.path, headers: headers(key: key), body: ByteBuffer(data: try exampleReferral()))
        case (.post, "/v1/records/{id}/rectify"):
            return ScenarioRequest(
                uri: "/v1/records/\(Identifier.make())/rectify", headers: headers(key: key),
                body: ByteBuffer(string: #"{"reason": "RECT-2026-1", "subject": {"phone": "01865 000444"}}"#))
        case (.post, "/v1/records/{id}/erase"):
            return ScenarioRequest(
                uri: "/v1/records/\(Identifier.make())/erase", headers: headers(key: key), body: ByteBuffer(string: #"{"reason": "ERASE-2026-1"}"#))
        case (.get, "/v1/audit/proof"):
            return ScenarioRequest(uri: "/v1/audit/proof?referral=\(Identifier.make())", headers: headers(key: key, json: false))
        case (.get, "/v1/records"):
            return ScenarioRequest(uri: "/v1/records?nhsNumber=9990000034&reason=SAR-2026-1", headers: headers(key: key, json: false))
        case (.get, "/v1/referrals/{id}"):
            return ScenarioRequest(uri: "/v1/referrals/\(Identifier.make())", headers: headers(key: key, json: false))
        case (.put, "/v1/rules"):
            var fields = yamlHeaders(ifMatch: "*", key: key ?? "")
            if key == nil { fields[.authorization] = nil }
            let text = changedRules(try String(contentsOfFile: fixture.rulesPath, encoding: .utf8))
            return ScenarioRequest(uri: response.path, headers: fields, body: ByteBuffer(string: text))
        case (.post, "/v1/rules/test"):
            let body = #"{"referral": "# + String(decoding: try exampleReferral(), as: UTF8.self) + "}"
            return ScenarioRequest(uri: response.path, headers: headers(key: key), body: ByteBuffer(string: body))
        case (.post, "/v1/rules/rollback"):
            var fields = headers(key: key)
            fields[.ifMatch] = "*"
            return ScenarioRequest(uri: response.path, headers: fields, body: ByteBuffer(string: #"{"version": 1}"#))
        case (.get, "/v1/rules/versions/{number}"):
            return ScenarioRequest(uri: "/v1/rules/versions/1", headers: headers(key: key, json: false))
        case (.post, "/v1/rules/impact"):
            var fields = yamlHeaders(ifMatch: nil, key: key ?? "")
            if key == nil { fields[.authorization] = nil }
            let text = changedRules(try String(contentsOfFile: fixture.rulesPath, encoding: .utf8))
            return ScenarioRequest(uri: "/v1/rules/impact?days=7", headers: fields, body: ByteBuffer(string: text))
        case (.post, "/v1/agencies/impact"):
            var fields = yamlHeaders(ifMatch: nil, key: key ?? "")
            if key == nil { fields[.authorization] = nil }
            return ScenarioRequest(uri: "/v1/agencies/impact", headers: fields, body: ByteBuffer(string: try changedAgencies(fixture)))
        case (.put, "/v1/agencies"), (.post, "/v1/agencies/proposals"):
            var fields = yamlHeaders(ifMatch: "*", key: key ?? "")
            if key == nil { fields[.authorization] = nil }
            return ScenarioRequest(uri: response.path, headers: fields, body: ByteBuffer(string: try changedAgencies(fixture)))
        case (.post, "/v1/rules/proposals"):
            var fields = yamlHeaders(ifMatch: "*", key: key ?? "")
            if key == nil { fields[.authorization] = nil }
            let text = changedRules(try String(contentsOfFile: fixture.rulesPath, encoding: .utf8))
            return ScenarioRequest(uri: response.path, headers: fields, body: ByteBuffer(string: text))
        case (.post, "/v1/agencies/rollback"):
            var fields = headers(key: key)
            fields[.ifMatch] = "*"
            return ScenarioRequest(uri: response.path, headers: fields, body: ByteBuffer(string: #"{"version": 1}"#))
        case (.post, "/v1/referrals/{id}/cancel"):
            return ScenarioRequest(
                uri: "/v1/referrals/\(Identifier.make())/cancel", headers: headers(key: key),
                body: ByteBuffer(string: #"{"reason": "the person moved to Wales"}"#))
        case (.post, "/v1/referrals/{id}/amendments"):
            return ScenarioRequest(
                uri: "/v1/referrals/\(Identifier.make())/amendments", headers: headers(key: key),
                body: ByteBuffer(string: #"{"subject": {"phone": "01865 000444"}}"#))
        case (.post, "/v1/referrals/{id}/status"):
            return ScenarioRequest(
                uri: "/v1/referrals/\(Identifier.make())/status", headers: headers(key: key), body: ByteBuffer(string: #"{"status": "accepted"}"#))
        case (.post, "/v1/attention/{id}/resolve"):
            return ScenarioRequest(
                uri: "/v1/attention/\(Identifier.make())/resolve", headers: headers(key: key),
                body: ByteBuffer(string: #"{"action": "close", "reason": "spoken to the person: no longer needed"}"#))
        case (.get, "/v1/agencies/versions/{number}"):
            return ScenarioRequest(uri: "/v1/agencies/versions/1", headers: headers(key: key, json: false))
        case (.get, let path) where path.hasSuffix("/proposals/{id}"):
            return ScenarioRequest(uri: path.replacingOccurrences(of: "{id}", with: Identifier.make()), headers: headers(key: key, json: false))
        case (.post, let path) where path.hasSuffix("/proposals/{id}/approve"):
            return ScenarioRequest(uri: path.replacingOccurrences(of: "{id}", with: Identifier.make()), headers: headers(key: key, json: false))
        case (.post, let path) where path.hasSuffix("/proposals/{id}/reject"):
            return ScenarioRequest(
                uri: path.replacingOccurrences(of: "{id}", with: Identifier.make()), headers: headers(key: key),
                body: ByteBuffer(string: #"{"reason": "not this week"}"#))
        case (.post, "/v1/queue/retry"):
            return ScenarioRequest(uri: response.path, headers: headers(key: key), body: ByteBuffer(string: #"{"agency": "oxfordshire-spa"}"#))
        case (.post, "/v1/agencies/{agency}/pause"):
            return ScenarioRequest(
                uri: "/v1/agencies/oxfordshire-spa/pause", headers: headers(key: key), body: ByteBuffer(string: #"{"reason": "upgrade"}"#))
        case (.post, "/v1/agencies/{agency}/ping"):
            return ScenarioRequest(uri: "/v1/agencies/oxfordshire-spa/ping", headers: headers(key: key, json: false))
        case (.post, "/v1/agencies/test"):
            var fields = yamlHeaders(ifMatch: "*", key: key ?? "")
            fields[.ifMatch] = nil
            if key == nil { fields[.authorization] = nil }
            return ScenarioRequest(
                uri: "/v1/agencies/test?agency=oxfordshire-spa", headers: fields, body: ByteBuffer(string: try changedAgencies(fixture)))
        case (.post, "/v1/keys"):
            return ScenarioRequest(
                uri: response.path, headers: headers(key: key), body: ByteBuffer(string: #"{"owner": "Dr Test", "role": "referrer"}"#))
        case (.post, "/v1/keys/{id}/revoke"):
            return ScenarioRequest(uri: "/v1/keys/no-such-key/revoke", headers: headers(key: key, json: false))
        case (.post, "/v1/keys/{id}/rotate"):
            return ScenarioRequest(
                uri: "/v1/keys/no-such-key/rotate", headers: headers(key: key), body: ByteBuffer(string: #"{"overlapSeconds": 60}"#))
        case (.post, "/FHIR/R4/$process-message"):
            return ScenarioRequest(uri: response.path, headers: FHIRMessageTests.fhirHeaders(key), body: try FHIRMessageTests.validRequest())
        case (.post, "/v1/agencies/{agency}/resume"):
            return ScenarioRequest(uri: "/v1/agencies/oxfordshire-spa/resume", headers: headers(key: key, json: false))
        default:
            return ScenarioRequest(uri: response.path, headers: headers(key: key, json: false))
        }
    }
}
