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

/// `POST /FHIR/R4/$process-message` as an NHS system meets it, with the BaRS specification's own
/// example messages (Tests/Fixtures/bars): a referral request in, an agency's response back.
@Suite struct FHIRMessageTests {
    static let crisisKey = "crisis-agency-key-for-tests-1"
    static let requestId = "c1ab3fba-6bae-4ba4-b257-5a87c44d4a91"
    static let correlationId = "9562466f-c982-4bd5-bb0e-255e9f5e6689"

    /// The fixture (with the example's concept map), and a key for the crisis team the example request goes to.
    static func fixture() throws -> GatewayFixture {
        let digest = APIKey.digest(of: crisisKey).map { String(format: "%02x", $0) }.joined()
        return try GatewayFixture(keys: ["{ id: crisis-team, role: agency, agency: oxford-mh-crisis, sha256: \(digest) }"])
    }

    /// A BaRS example message, as the specification has it, or with `change` applied to it.
    static func example(_ name: String, _ change: (inout [String: Any]) -> Void = { _ in }) throws -> ByteBuffer {
        let url = repositoryRoot.appendingPathComponent("Tests/Fixtures/bars/\(name).json")
        var bundle = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        change(&bundle)
        return ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: bundle))
    }

    /// Changes every resource of `type` in a Bundle.
    static func edit(_ bundle: inout [String: Any], _ type: String, _ change: (inout [String: Any]) -> Void) {
        var entries = bundle["entry"] as! [[String: Any]]
        for index in entries.indices {
            guard var resource = entries[index]["resource"] as? [String: Any], resource["resourceType"] as? String == type else { continue }
            change(&resource)
            entries[index]["resource"] = resource
        }
        bundle["entry"] = entries
    }

    /// The example request with a valid NHS number in place of its own, whose check digit fails.
    static func validRequest(reason: String = "new", _ change: (inout [String: Any]) -> Void = { _ in }) throws -> ByteBuffer {
        try example("servicerequest-request") { bundle in
            edit(&bundle, "Patient") { patient in
                var identifiers = patient["identifier"] as! [[String: Any]]
                identifiers[0]["value"] = "9990000018"
                patient["identifier"] = identifiers
            }
            edit(&bundle, "MessageHeader") { header in
                header["reason"] = ["coding": [["system": "https://fhir.nhs.uk/CodeSystem/message-reason-bars", "code": reason]]]
            }
            if reason == "cancel" { edit(&bundle, "ServiceRequest") { $0["status"] = "revoked" } }
            change(&bundle)
        }
    }

    static func fhirHeaders(_ key: String?, ids: Bool = true) -> HTTPFields {
        var fields = HTTPFields()
        if let key { fields[.authorization] = "Bearer \(key)" }
        fields[.contentType] = "application/fhir+json"
        if ids {
            fields[HTTPField.Name("X-Request-Id")!] = requestId
            fields[HTTPField.Name("X-Correlation-Id")!] = correlationId
        }
        return fields
    }

    static func json(_ response: TestResponse) -> [String: Any] {
        ((try? JSONSerialization.jsonObject(with: Data(buffer: response.body))) as? [String: Any]) ?? [:]
    }

    /// Each issue of an OperationOutcome as "BaRS code at expression".
    static func issues(_ response: TestResponse) -> [String] {
        let body = json(response)
        #expect(body["resourceType"] as? String == "OperationOutcome")
        return (body["issue"] as? [[String: Any]] ?? []).map { issue in
            let code = (((issue["details"] as? [String: Any])?["coding"] as? [[String: Any]])?.first?["code"] as? String) ?? "-"
            return "\(code) at \((issue["expression"] as? [String])?.first ?? "-")"
        }
    }

    /// The gateway's referral id in a success reply.
    static func referralId(_ response: TestResponse) -> ReferralID? {
        let entries = json(response)["entry"] as? [[String: Any]] ?? []
        let request = entries.compactMap { $0["resource"] as? [String: Any] }.first { $0["resourceType"] as? String == "ServiceRequest" }
        return ((request?["identifier"] as? [[String: Any]])?.first { $0["system"] as? String == "urn:switchboard:referral" }?["value"] as? String)
            .map(ReferralID.init)
    }

    static let path = "/FHIR/R4/$process-message"

    @Test func theSpecificationsExampleRequestIsAcceptedRoutedByTheRulesAndAudited() async throws {
        let fixture = try Self.fixture()
        let store = fixture.components.store
        try await fixture.test { client in
            try await client.execute(
                uri: Self.path, method: .post, headers: Self.fhirHeaders(GatewayFixture.referrerKey), body: try Self.validRequest()
            ) {
                response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/fhir+json")
                #expect(response.headers[HTTPField.Name("X-Request-Id")!] == Self.requestId)
                #expect(response.headers[HTTPField.Name("X-Correlation-Id")!] == Self.correlationId)
                let body = Self.json(response)
                #expect(body["resourceType"] as? String == "Bundle" && body["type"] as? String == "message")
                let id = try #require(Self.referralId(response))
                let report = try #require(try await store.report(referralId: id))
                #expect(report.needs == ["mental-health-crisis"])
                #expect(report.urgency == .urgent)
                #expect(report.deliveries.map(\.agency.rawValue) == ["oxford-mh-crisis"])
                let referral = try #require(try await store.loopReferral(id)).referral
                #expect(referral.subject.nhsNumber == "9990000018")
                #expect(referral.subject.familyName == "Jones" && referral.subject.postcode == "LS10 4YU")
                #expect(referral.referrer.organisation == "RND")
                #expect(referral.consent.status == .given)
                // The Bundle is kept with the referral as it arrived.
                let original = try await store.originalMessage(referralId: id)
                #expect(original?.mediaType == "application/fhir+json")
                let kept = try JSONSerialization.jsonObject(with: Data(original?.body ?? [])) as? NSDictionary
                let sent = try JSONSerialization.jsonObject(with: Data(buffer: try Self.validRequest())) as? NSDictionary
                #expect(kept != nil && kept == sent)
                let mapped = report.history.first { $0.event == "referral.mapped" }?.detail ?? ""
                #expect(mapped.contains("111111111 → need mental-health-crisis") && mapped.contains("C3 → urgent"))
                // The audit trail names codes, never the person.
                #expect(!report.history.contains { ($0.detail ?? "").contains("Jones") || ($0.detail ?? "").contains("9990000018") })
            }
            // The same message again is the same referral, not a second one.
            try await client.execute(
                uri: Self.path, method: .post, headers: Self.fhirHeaders(GatewayFixture.referrerKey), body: try Self.validRequest()
            ) {
                #expect($0.status == .ok)
            }
        }
        #expect(try fixture.count("referrals") == 1)
    }

    @Test func aKeyBoundToOrganisationsMaySendOnlyForThem() async throws {
        let fixture = try Self.fixture()
        try await fixture.test { client in
            // The practice's key may send for K84001 only; the example's sender is RND.
            try await client.execute(
                uri: Self.path, method: .post, headers: Self.fhirHeaders(GatewayFixture.practiceKey), body: try Self.validRequest()
            ) { response in
                #expect(response.status == .forbidden)
                #expect(Self.issues(response) == ["REC_FORBIDDEN at Bundle.entry[12].resource.identifier[0].value"])
            }
        }
        #expect(try fixture.count("referrals") == 0)
    }

    @Test func anInvalidNHSNumberIsA422NamingItsPathAndNothingIsStored() async throws {
        let fixture = try Self.fixture()
        let before = try fixture.count("audit_events")
        try await fixture.test { client in
            try await client.execute(
                uri: Self.path, method: .post, headers: Self.fhirHeaders(GatewayFixture.referrerKey), body: try Self.example("servicerequest-request")
            ) { response in
                #expect(response.status == .unprocessableContent)
                #expect(response.headers[.contentType] == "application/fhir+json")
                #expect(Self.issues(response).contains("REC_UNPROCESSABLE_ENTITY at Bundle.entry[5].resource.identifier[0].value"))
            }
            // Every problem at once: a birth date in the future beside the NHS number.
            let twice = try Self.example("servicerequest-request") { bundle in Self.edit(&bundle, "Patient") { $0["birthDate"] = "2999-01-01" } }
            try await client.execute(uri: Self.path, method: .post, headers: Self.fhirHeaders(GatewayFixture.referrerKey), body: twice) { response in
                #expect(
                    Set(Self.issues(response)).isSuperset(of: [
                        "REC_UNPROCESSABLE_ENTITY at Bundle.entry[5].resource.identifier[0].value",
                        "REC_UNPROCESSABLE_ENTITY at Bundle.entry[5].resource.birthDate",
                    ]))
            }
        }
        #expect(try fixture.count("referrals") == 0)
        #expect(try fixture.count("audit_events") == before)
    }

    @Test func whatIsNotAMessageIsA400AndWhatCannotBeMappedA422() async throws {
        let fixture = try Self.fixture()
        try await fixture.test { client in
            let key = GatewayFixture.referrerKey
            let document = ByteBuffer(string: #"{"resourceType": "Bundle", "type": "document", "entry": []}"#)
            try await client.execute(uri: Self.path, method: .post, headers: Self.fhirHeaders(key), body: document) { response in
                #expect(response.status == .badRequest)
                #expect(Self.issues(response) == ["REC_BAD_REQUEST at Bundle.type"])
            }
            try await client.execute(uri: Self.path, method: .post, headers: Self.fhirHeaders(key), body: ByteBuffer(string: "{not json")) {
                #expect($0.status == .badRequest)
                #expect(Self.issues($0).first?.hasPrefix("REC_BAD_REQUEST") == true)
            }
            // A booking is a BaRS message this gateway does not take.
            try await client.execute(uri: Self.path, method: .post, headers: Self.fhirHeaders(key), body: try Self.example("booking-request")) {
                #expect($0.status == .unprocessableContent)
                #expect(Self.issues($0) == ["REC_UNPROCESSABLE_ENTITY at Bundle.entry[0].resource.eventCoding.code"])
            }
            // Addressed to a service nobody mapped, without a priority: no need, no urgency, no guess.
            let unmapped = try Self.validRequest { bundle in
                Self.edit(&bundle, "MessageHeader") { $0["destination"] = [["endpoint": "http://fhir.nhs.uk/Id/dos-service-id|999"]] }
                Self.edit(&bundle, "CarePlan") { $0["activity"] = [] }
            }
            try await client.execute(uri: Self.path, method: .post, headers: Self.fhirHeaders(key), body: unmapped) { response in
                #expect(response.status == .unprocessableContent)
                #expect(
                    Self.issues(response) == [
                        "REC_UNPROCESSABLE_ENTITY at Bundle.entry[1].resource.code", "REC_UNPROCESSABLE_ENTITY at Bundle.entry[1].resource.priority",
                    ])
            }
            // The correlation headers are required, and no key is a 401, both as OperationOutcomes.
            try await client.execute(uri: Self.path, method: .post, headers: Self.fhirHeaders(key, ids: false), body: try Self.validRequest()) {
                #expect($0.status == .badRequest)
                #expect(Self.issues($0).count == 2)
            }
            try await client.execute(uri: Self.path, method: .post, headers: Self.fhirHeaders(nil), body: try Self.validRequest()) {
                #expect($0.status == .unauthorized)
                #expect(Self.issues($0) == ["REC_UNAUTHORIZED at -"])
            }
        }
        #expect(try fixture.count("referrals") == 0)
    }
}
