import Foundation
import Gateway
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import ReferralModel
import Storage
import SwitchboardTesting
import Testing

/// The clinical safety rules as integrators meet them over HTTP: an agency's decline by reason, the
/// referrer's amendment, a child's consent, respondBy and names that display as something else,
/// and the attention figures on /metrics.
@Suite struct ClinicalSafetyAPITests {
    /// The body as a JSON object; empty when it is not one (the expectations then fail on what is missing).
    func json(_ response: TestResponse) -> [String: Any] {
        ((try? JSONSerialization.jsonObject(with: Data(buffer: response.body))) as? [String: Any]) ?? [:]
    }

    func pointers(_ response: TestResponse) -> [String] {
        (json(response)["errors"] as? [[String: Any]] ?? []).compactMap { $0["pointer"] as? String }
    }

    /// A referral for the council's front door, delivered: the fixture's agency key answers for it.
    func delivered(_ fixture: GatewayFixture) async throws -> ReferralID {
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

    @Test func aReturnedReferralIsAmendedByItsReferrerAndTheUpdateGoesToTheAgency() async throws {
        let fixture = try GatewayFixture()
        let id = try await delivered(fixture)
        try await fixture.test { client in
            let status = "/v1/referrals/\(id)/status"
            // A return without the question is refused, by its pointer.
            try await client.execute(
                uri: status, method: .post, headers: headers(key: GatewayFixture.agencyKey),
                body: ByteBuffer(string: #"{"status": "declined", "reason": "insufficient-information"}"#)
            ) { response in
                #expect(response.status == .unprocessableContent)
                #expect(pointers(response) == ["/text"])
            }
            try await client.execute(
                uri: status, method: .post, headers: headers(key: GatewayFixture.agencyKey),
                body: ByteBuffer(string: #"{"status": "declined", "reason": "insufficient-information", "text": "Is there a carer at home?"}"#)
            ) { response in
                #expect(response.status == .ok)
                #expect(json(response)["state"] as? String == "returned")
            }
            try await client.execute(uri: "/v1/referrals/\(id)", method: .get, headers: headers(key: GatewayFixture.referrerKey, json: false)) {
                #expect(json($0)["status"] as? String == "returned")
            }
            let amendments = "/v1/referrals/\(id)/amendments"
            var patch = headers(key: GatewayFixture.referrerKey)
            patch[.contentType] = "application/merge-patch+json"
            // Another referrer: there is no such referral for it.
            var other = patch
            other[.authorization] = "Bearer \(GatewayFixture.otherReferrerKey)"
            try await client.execute(uri: amendments, method: .post, headers: other, body: ByteBuffer(string: #"{"reason": "x"}"#)) {
                #expect($0.status == .notFound)
            }
            // Fields that decide where it goes cannot be amended; bad values are named.
            try await client.execute(
                uri: amendments, method: .post, headers: patch,
                body: ByteBuffer(string: #"{"urgency": "emergency", "subject": {"postcode": "moon"}}"#)
            ) { response in
                #expect(response.status == .unprocessableContent)
                #expect(pointers(response) == ["/urgency"], "the refusal of a routing field comes first, alone")
            }
            try await client.execute(
                uri: amendments, method: .post, headers: patch, body: ByteBuffer(string: #"{"subject": {"postcode": "moon"}}"#)
            ) { response in
                #expect(response.status == .unprocessableContent)
                #expect(pointers(response) == ["/subject/postcode"])
            }
            try await client.execute(uri: amendments, method: .post, headers: patch, body: ByteBuffer(string: #"{"reason": "#)) {
                #expect($0.status == .badRequest)
            }
            try await client.execute(
                uri: amendments, method: .post, headers: patch,
                body: ByteBuffer(string: #"{"reason": "Her daughter visits daily and is her carer."}"#)
            ) { response in
                #expect(response.status == .ok)
                let body = json(response)
                #expect(body["fields"] as? [String] == ["/reason"])
                #expect(body["updating"] as? [String] == ["oxfordshire-spa"])
            }
        }
        let report = try #require(try await fixture.components.store.report(referralId: id))
        #expect(report.deliveries.map { "\($0.agency) \($0.state.rawValue) \($0.notice ?? "-")" }.contains("oxfordshire-spa delivered -"))
        #expect(report.deliveries.contains { $0.notice == "referral.updated" })
    }

    @Test func aDuplicateNamesTheAgencysCaseAndAPersonsNoSendsNothingOn() async throws {
        let fixture = try GatewayFixture()
        let id = try await delivered(fixture)
        let other = try await delivered(fixture)
        try await fixture.test { client in
            try await client.execute(
                uri: "/v1/referrals/\(id)/status", method: .post, headers: headers(key: GatewayFixture.agencyKey),
                body: ByteBuffer(string: #"{"status": "declined", "reason": "no-capacity", "reference": "LAS-1"}"#)
            ) { response in
                #expect(response.status == .unprocessableContent)
                #expect(pointers(response) == ["/reference"], "a reference goes with a duplicate only")
            }
            try await client.execute(
                uri: "/v1/referrals/\(id)/status", method: .post, headers: headers(key: GatewayFixture.agencyKey),
                body: ByteBuffer(string: #"{"status": "declined", "reason": "duplicate", "reference": "LAS-4471"}"#)
            ) { #expect($0.status == .ok) }
            try await client.execute(uri: "/v1/referrals/\(id)", method: .get, headers: headers(key: GatewayFixture.referrerKey, json: false)) {
                response in
                let deliveries = json(response)["deliveries"] as? [[String: Any]] ?? []
                #expect(deliveries.first?["agencyReference"] as? String == "LAS-4471")
                #expect(deliveries.count == 1, "not sent on")
            }
            try await client.execute(
                uri: "/v1/referrals/\(other)/status", method: .post, headers: headers(key: GatewayFixture.agencyKey),
                body: ByteBuffer(string: #"{"status": "declined", "reason": "person-declined"}"#)
            ) { response in
                #expect(response.status == .ok)
                #expect(json(response)["reroutedTo"] == nil)
            }
            try await client.execute(uri: "/v1/referrals/\(other)", method: .get, headers: headers(key: GatewayFixture.referrerKey, json: false)) {
                #expect(json($0)["status"] as? String == "closed")
            }
        }
    }

    @Test func aChildsBestInterestsPastRespondByAndAReversedNameAre422ByPointer() async throws {
        let fixture = try GatewayFixture()
        var referral = try #require(try JSONSerialization.jsonObject(with: try exampleReferral()) as? [String: Any])
        var subject = try #require(referral["subject"] as? [String: Any])
        subject["birthDate"] = "2016-03-10"
        subject["familyName"] = "Smith\u{202E}nhoJ"
        referral["subject"] = subject
        referral["consent"] = ["status": "best-interests", "decisionMaker": "Dr Test"]
        referral["respondBy"] = Timestamp.string(Date().addingTimeInterval(-120))
        referral["externalReference"] = "EMIS\u{2028}REF"
        let body = try JSONSerialization.data(withJSONObject: referral)
        try await fixture.test { client in
            try await client.execute(
                uri: "/v1/referrals", method: .post, headers: headers(key: GatewayFixture.referrerKey), body: ByteBuffer(data: body)
            ) { response in
                #expect(response.status == .unprocessableContent)
                #expect(Set(pointers(response)) == ["/consent/status", "/respondBy", "/subject/familyName", "/externalReference"])
                let text = String(buffer: response.body)
                #expect(text.contains("U+202E") && text.contains("U+2028"))
                #expect(!text.contains("Smith"), "the name is not repeated back")
            }
        }
        #expect(try fixture.count("referrals") == 0)
    }

    @Test func metricsCountOpenAndOverdueAttentionByUrgency() async throws {
        let clock = ManualClock(now: Date(timeIntervalSince1970: 1_796_205_600))
        let fixture = try GatewayFixture(clock: clock)
        // Held from outside the area: a routine item, due in two working days.
        _ = try await fixture.components.intake.submit(try exampleReferral("referral-carer-out-of-area"), actor: "test-gp", idempotencyKey: nil)
        try await fixture.test { client in
            func metrics() async throws -> String {
                try await client.execute(uri: "/metrics", method: .get, headers: headers(key: GatewayFixture.adminKey, json: false)) {
                    String(buffer: $0.body)
                }
            }
            var text = try await metrics()
            #expect(text.contains(#"switchboard_attention_open{urgency="routine"} 1"#))
            #expect(text.contains(#"switchboard_attention_open{urgency="emergency"} 0"#))
            #expect(text.contains(#"switchboard_overdue{urgency="routine"} 0"#))
            clock.advance(by: 7 * 86_400)
            text = try await metrics()
            #expect(text.contains(#"switchboard_overdue{urgency="routine"} 1"#))
        }
    }
}
