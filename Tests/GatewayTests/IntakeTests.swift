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

@Suite struct IntakeTests {
    @Test func aValidReferralIsStoredRoutedAndAcknowledged() async throws {
        let fixture = try GatewayFixture()
        let body = try exampleReferral()
        try await fixture.test { client in
            let receipt = try await client.execute(
                uri: "/v1/referrals", method: .post, headers: headers(key: GatewayFixture.referrerKey), body: ByteBuffer(data: body)
            ) { response in
                #expect(response.status == .accepted)
                #expect(response.headers[.contentType] == "application/json")
                let receipt = try JSONDecoder().decode(SubmissionReceipt.self, from: Data(buffer: response.body))
                #expect(response.headers[.location] == "/v1/referrals/\(receipt.id)")
                return receipt
            }
            #expect(receipt.routes.map(\.agency.rawValue) == ["oxford-falls", "oxfordshire-spa"])
            #expect(receipt.routes.map(\.rule) == ["falls-oxfordshire", "social-care-oxfordshire"])
            #expect(receipt.rulesVersion.hasPrefix("sha256:"))

            try await client.execute(uri: "/v1/referrals/\(receipt.id)", method: .get, headers: headers(key: GatewayFixture.referrerKey)) {
                response in
                #expect(response.status == .ok)
                let report = try JSONDecoder().decode(ReferralReport.self, from: Data(buffer: response.body))
                #expect(report.deliveries.map(\.agency.rawValue) == ["oxford-falls", "oxfordshire-spa"])
                #expect(report.history.map(\.event) == ["referral.received", "referral.validated", "referral.routed"])
                #expect(report.history.last?.detail?.contains("falls-oxfordshire") == true)
                // The report names no one: none of the person's details appear in it.
                let text = String(buffer: response.body)
                for personal in ["Margaret", "Testperson", "9990000018", "OX3 9DU", "Two falls"] { #expect(!text.contains(personal)) }
            }
            // An admin sees every referral; another referrer sees none of this one's.
            try await client.execute(uri: "/v1/referrals/\(receipt.id)", method: .get, headers: headers(key: GatewayFixture.adminKey)) {
                #expect($0.status == .ok)
            }
            try await client.execute(uri: "/v1/referrals/\(receipt.id)", method: .get, headers: headers(key: GatewayFixture.otherReferrerKey)) {
                #expect($0.status == .notFound)
            }
        }
        #expect(try fixture.count("referrals") == 1)
        #expect(try fixture.count("deliveries") == 2)
    }

    @Test func theSameIdempotencyKeyAndBodyReturnTheFirstAnswer() async throws {
        let fixture = try GatewayFixture()
        let body = try exampleReferral()
        try await fixture.test { client in
            let key = [("Idempotency-Key", "3f0c6d5e-retry-1")]
            let first = try await client.execute(
                uri: "/v1/referrals", method: .post, headers: headers(key: GatewayFixture.referrerKey, extra: key), body: ByteBuffer(data: body)
            ) { String(buffer: $0.body) }
            try await client.execute(
                uri: "/v1/referrals", method: .post, headers: headers(key: GatewayFixture.referrerKey, extra: key), body: ByteBuffer(data: body)
            ) { response in
                #expect(response.status == .accepted)
                #expect(String(buffer: response.body) == first)
                #expect(response.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            }
        }
        #expect(try fixture.count("referrals") == 1)
    }

    @Test func aReferralFromOutsideTheServiceAreaIsHeldNotSentToTheLocalCouncil() async throws {
        let fixture = try GatewayFixture()
        try await fixture.test { client in
            // Joan lives in Reading (RG1); the example deployment serves Oxfordshire.
            let receipt = try await client.execute(
                uri: "/v1/referrals", method: .post, headers: headers(key: GatewayFixture.referrerKey),
                body: ByteBuffer(data: try exampleReferral("referral-carer-out-of-area"))
            ) { response in
                #expect(response.status == .accepted)
                return try JSONDecoder().decode(SubmissionReceipt.self, from: Data(buffer: response.body))
            }
            #expect(receipt.status == .outOfArea)
            #expect(receipt.routes.isEmpty)
            try await client.execute(uri: "/v1/referrals/\(receipt.id)", method: .get, headers: headers(key: GatewayFixture.referrerKey)) {
                let report = try JSONDecoder().decode(ReferralReport.self, from: Data(buffer: $0.body))
                #expect(report.status == .outOfArea)
                #expect(report.deliveries.isEmpty)
                // Held, and in front of a person: nothing is held in silence.
                #expect(report.history.map(\.event) == ["referral.received", "referral.validated", "referral.held", "attention.opened"])
            }
        }
        #expect(try fixture.count("deliveries") == 0, "nothing for the dispatcher to send")
    }

    @Test func auditEventsCarryIdsNotPersonalData() async throws {
        let fixture = try GatewayFixture()
        try await fixture.test { client in
            for name in ["referral-falls", "referral-safeguarding", "referral-crisis", "referral-carer-out-of-area"] {
                try await client.execute(
                    uri: "/v1/referrals", method: .post, headers: headers(key: GatewayFixture.referrerKey),
                    body: ByteBuffer(data: try exampleReferral(name))
                ) { #expect($0.status == .accepted) }
            }
        }
        let events = try await fixture.components.store.auditEvents(afterSequence: 0, limit: 1_000)
        // Three events each, and the held carer's referral opens an attention item.
        #expect(events.count == 13)
        let text = events.map { "\($0.detail) \($0.actor ?? "") \($0.agency ?? "")" }.joined(separator: "\n")
        for personal in ["Margaret", "Testperson", "9990000018", "9990000026", "OX3 9DU", "OX4 1AA", "RG1 1AA", "Alan", "falls at home", "Joan"] {
            #expect(!text.contains(personal), "audit text must not contain \(personal)")
        }
    }
}

/// A referrer key bound to organisations proves the referring organisation a referral names.
@Suite struct VerifiedReferrerTests {
    @Test func aKeyBoundToOrganisationsSubmitsForThemAndIsRefusedForAnyOtherWithAnAuditEvent() async throws {
        let fixture = try GatewayFixture()
        try await fixture.test { client in
            // referral-falls names K84001, the practice's own code.
            try await client.execute(
                uri: "/v1/referrals", method: .post, headers: headers(key: GatewayFixture.practiceKey),
                body: ByteBuffer(data: try exampleReferral("referral-falls"))
            ) { #expect($0.status == .accepted) }
            // referral-safeguarding names QVV, a police force's code: not this key's to claim.
            try await client.execute(
                uri: "/v1/referrals", method: .post, headers: headers(key: GatewayFixture.practiceKey),
                body: ByteBuffer(data: try exampleReferral("referral-safeguarding"))
            ) { response in
                #expect(response.status == .forbidden)
                try expectProblem(response, "urn:switchboard:problem:forbidden")
                let problem = try response.problem()
                #expect(problem.errors?.map(\.pointer) == ["/referrer/organisation"])
                #expect(problem.detail == "This API key may submit referrals for K84001 only; the referral names QVV as the referring organisation.")
            }
            // A key bound to no organisation may still name any, as before.
            try await client.execute(
                uri: "/v1/referrals", method: .post, headers: headers(key: GatewayFixture.referrerKey),
                body: ByteBuffer(data: try exampleReferral("referral-safeguarding"))
            ) { #expect($0.status == .accepted) }
        }
        #expect(try fixture.count("referrals") == 2, "the refused referral was not stored")
        let refused = try await fixture.components.store.auditEvents(afterSequence: 0, limit: 100).filter { $0.kind == "referral.refused" }
        #expect(refused.map(\.actor) == ["k84001-practice"])
        #expect(refused.first?.detail == "the key may not submit for organisation QVV; it may for K84001")
    }
}
