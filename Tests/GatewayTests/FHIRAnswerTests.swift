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

/// After a BaRS request is in: the receiving agency answers with a `servicerequest-response`, the
/// sender updates or cancels with the same ServiceRequest, each through the use cases the JSON API calls.
@Suite struct FHIRAnswerTests {
    typealias M = FHIRMessageTests

    /// The example request submitted and delivered to the crisis team; its referral id.
    func delivered(_ components: GatewayComponents, client: any TestClientProtocol) async throws -> ReferralID {
        let id = try await client.execute(
            uri: M.path, method: .post, headers: M.fhirHeaders(GatewayFixture.referrerKey), body: try M.validRequest()
        ) { M.referralId($0) }
        let store = components.store
        let leased = try await store.leaseDueDeliveries(
            now: components.clock.now(), lanes: [LaneDemand(agency: "oxford-mh-crisis", limit: 10, leaseDuration: 30)])
        _ = try await store.finish(
            leased.map { DeliveryCompletion(lease: $0, result: .delivered(agencyReference: nil), audit: [], at: components.clock.now()) })
        return try #require(id)
    }

    /// The specification's example response, about referral `id`: the receiver's Encounter (its
    /// focus) with `status`, and a rejection reason in its reasonCode, as the BaRS examples write them.
    func response(about id: ReferralID, encounter status: String, reason: (system: String, code: String)? = nil, note: String? = nil) throws
        -> ByteBuffer
    {
        try M.example("servicerequest-response") { bundle in
            M.edit(&bundle, "ServiceRequest") { request in
                request["identifier"] = [["system": "urn:switchboard:referral", "value": id.rawValue]]
                if let note { request["note"] = [["text": note]] }
            }
            var entries = bundle["entry"] as! [[String: Any]]
            var encounter = entries[4]["resource"] as! [String: Any]
            encounter["status"] = status
            encounter["identifier"] = [["system": "https://crisis.example/case", "value": "C-1"]]
            encounter["reasonCode"] = reason.map { [["coding": [["system": $0.system, "code": $0.code]]]] }
            entries[4]["resource"] = encounter
            bundle["entry"] = entries
        }
    }

    /// Posts a message as `key`: the status it got.
    func post(_ body: ByteBuffer, as key: String, _ client: any TestClientProtocol) async throws -> HTTPResponse.Status {
        try await client.execute(uri: M.path, method: .post, headers: M.fhirHeaders(key), body: body) { $0.status }
    }

    /// Whether the referral's history records a decline for `reason`.
    func declined(_ id: ReferralID, for reason: String, _ components: GatewayComponents) async throws -> Bool {
        let report = try #require(try await components.store.report(referralId: id))
        return report.history.contains { $0.event == "referral.declined" && ($0.detail ?? "").contains(reason) }
    }

    func state(_ components: GatewayComponents, _ id: ReferralID) async throws -> String? {
        try await components.store.report(referralId: id)?.deliveries.first { $0.agency == "oxford-mh-crisis" }?.state.rawValue
    }

    @Test func theReceivingAgencyAcceptsWithAResponseAndAnotherAgencysKeyIsRefused() async throws {
        let fixture = try M.fixture()
        let components = fixture.components
        try await fixture.test { client in
            let id = try await delivered(components, client: client)
            // The council's key did not receive it: refused, and nothing changes.
            try await client.execute(
                uri: M.path, method: .post, headers: M.fhirHeaders(GatewayFixture.agencyKey), body: try response(about: id, encounter: "in-progress")
            ) { response in
                #expect(response.status == .forbidden)
                #expect(M.issues(response).first?.hasPrefix("REC_FORBIDDEN") == true)
            }
            #expect(try await state(components, id) == "delivered")
            // A referrer's key cannot answer for an agency.
            #expect(try await post(try response(about: id, encounter: "in-progress"), as: GatewayFixture.referrerKey, client) == .forbidden)
            try await client.execute(
                uri: M.path, method: .post, headers: M.fhirHeaders(M.crisisKey), body: try response(about: id, encounter: "in-progress")
            ) { response in
                #expect(response.status == .ok)
                #expect(M.referralId(response) == id)
            }
            #expect(try await state(components, id) == "accepted")
            // Completed next, as the lifecycle allows; accepting again is a conflict.
            #expect(try await post(try response(about: id, encounter: "in-progress"), as: M.crisisKey, client) == .conflict)
            #expect(try await post(try response(about: id, encounter: "finished"), as: M.crisisKey, client) == .ok)
            #expect(try await state(components, id) == "completed")
        }
    }

    @Test func aRejectionCarriesItsReasonAsTheJSONAPIsDeclineWould() async throws {
        let fixture = try M.fixture()
        let components = fixture.components
        try await fixture.test { client in
            let id = try await delivered(components, client: client)
            // Insufficient information needs the question.
            try await client.execute(
                uri: M.path, method: .post, headers: M.fhirHeaders(M.crisisKey),
                body: try response(about: id, encounter: "cancelled", reason: ("urn:switchboard:decline-reason", "insufficient-information"))
            ) { response in
                #expect(response.status == .unprocessableContent)
                #expect(M.issues(response) == ["REC_UNPROCESSABLE_ENTITY at Bundle.entry[1].resource.note"])
            }
            #expect(
                try await post(
                    try response(
                        about: id, encounter: "cancelled", reason: ("urn:switchboard:decline-reason", "insufficient-information"),
                        note: "Is anyone with her now?"), as: M.crisisKey, client) == .ok)
            #expect(try await state(components, id) == "returned")
            #expect(try await declined(id, for: "insufficient-information", components))
        }
    }

    @Test func aBaRSRejectionReasonDecidesWhatComesNext() async throws {
        let fixture = try M.fixture()
        let components = fixture.components
        try await fixture.test { client in
            let id = try await delivered(components, client: client)
            // "Requested resource not available within timescale": no capacity, so on to the next candidate.
            #expect(
                try await post(
                    try response(about: id, encounter: "cancelled", reason: ("https://fhir.nhs.uk/CodeSystem/rejected-reasons-bars", "RRNA")),
                    as: M.crisisKey, client) == .ok)
            #expect(try await state(components, id) == "declined")
            #expect(try await declined(id, for: "no-capacity", components))
        }
    }

    @Test func anUpdateAmendsAndACancelRevokesTheSameRequest() async throws {
        let fixture = try M.fixture()
        let components = fixture.components
        try await fixture.test { client in
            let id = try await delivered(components, client: client)
            let renamed = try M.validRequest(reason: "update") { bundle in
                M.edit(&bundle, "Patient") { patient in
                    var names = patient["name"] as! [[String: Any]]
                    names[0]["family"] = "Jones-Smith"
                    patient["name"] = names
                }
            }
            try await client.execute(uri: M.path, method: .post, headers: M.fhirHeaders(GatewayFixture.referrerKey), body: renamed) { response in
                #expect(response.status == .ok)
                #expect(M.referralId(response) == id)
            }
            #expect(try await components.store.loopReferral(id)?.referral.subject.familyName == "Jones-Smith")
            // Urgency is routing's to decide: an update may not change it.
            let sooner = try M.validRequest(reason: "update") { bundle in M.edit(&bundle, "ServiceRequest") { $0["priority"] = "stat" } }
            try await client.execute(uri: M.path, method: .post, headers: M.fhirHeaders(GatewayFixture.referrerKey), body: sooner) { response in
                #expect(response.status == .unprocessableContent)
                #expect(M.issues(response) == ["REC_UNPROCESSABLE_ENTITY at Bundle.entry[1].resource.priority"])
            }
            // Another referrer cannot reach it.
            #expect(try await post(try M.validRequest(reason: "cancel"), as: GatewayFixture.otherReferrerKey, client) == .notFound)
            try await client.execute(
                uri: M.path, method: .post, headers: M.fhirHeaders(GatewayFixture.referrerKey), body: try M.validRequest(reason: "cancel")
            ) { response in
                #expect(response.status == .ok)
                let entries = M.json(response)["entry"] as? [[String: Any]] ?? []
                #expect(entries.contains { ($0["resource"] as? [String: Any])?["status"] as? String == "revoked" })
            }
            let report = try #require(try await components.store.report(referralId: id))
            #expect(report.history.contains { $0.event == "referral.cancelled" })
        }
    }
}
