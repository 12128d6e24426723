import Deployment
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

/// One test per documented error: each triggers its cause, checks the status, the problem type,
/// the headers the contract promises, and that nothing was stored.
@Suite struct DocumentedErrorTests {
    func expectNothingStored(_ fixture: GatewayFixture) throws {
        #expect(try fixture.count("referrals") == 0)
        #expect(try fixture.count("deliveries") == 0)
        #expect(try fixture.count("idempotency_keys") == 0)
    }

    @Test func malformedJSONIs400() async throws {
        let fixture = try GatewayFixture()
        try await fixture.test { client in
            try await client.execute(
                uri: "/v1/referrals", method: .post, headers: headers(key: GatewayFixture.referrerKey), body: ByteBuffer(string: "{\"needs\": [")
            ) { response in
                #expect(response.status == .badRequest)
                #expect(response.headers[.contentType] == "application/problem+json")
                try expectProblem(response, "urn:switchboard:problem:malformed-json")
            }
        }
        try expectNothingStored(fixture)
    }

    @Test func anInvalidReferralIs422WithEveryProblem() async throws {
        let fixture = try GatewayFixture()
        var object = try JSONSerialization.jsonObject(with: try exampleReferral()) as! [String: Any]
        var subject = object["subject"] as! [String: Any]
        subject["nhsNumber"] = "999 000 0019"
        subject["postcode"] = "nowhere"
        subject["birthDate"] = "2999-01-01"
        object["subject"] = subject
        object["needs"] = ["juggling"]
        object["urgency"] = 3
        object["colour"] = "blue"
        object["reason"] = String(repeating: "x", count: 10_001)
        let body = try JSONSerialization.data(withJSONObject: object)
        try await fixture.test { client in
            try await client.execute(
                uri: "/v1/referrals", method: .post, headers: headers(key: GatewayFixture.referrerKey), body: ByteBuffer(data: body)
            ) { response in
                #expect(response.status == .unprocessableContent)
                let problem = try response.problem()
                #expect(problem.type == "urn:switchboard:problem:invalid-referral")
                #expect(
                    Set(problem.errors?.map(\.pointer) ?? []) == [
                        "/subject/nhsNumber", "/subject/postcode", "/subject/birthDate", "/needs/0", "/urgency", "/colour", "/reason",
                    ])
                #expect(problem.errors?.first { $0.pointer == "/urgency" }?.detail == "must be a string, not an integer.")
                #expect(!String(buffer: response.body).contains("Swift"), "messages speak JSON, not Swift types")
            }
        }
        try expectNothingStored(fixture)
    }

    @Test func aMalformedIdempotencyKeyIs422() async throws {
        let fixture = try GatewayFixture()
        try await fixture.test { client in
            try await client.execute(
                uri: "/v1/referrals", method: .post,
                headers: headers(key: GatewayFixture.referrerKey, extra: [("Idempotency-Key", String(repeating: "k", count: 256))]),
                body: ByteBuffer(data: try exampleReferral())
            ) { response in
                #expect(response.status == .unprocessableContent)
                try expectProblem(response, "urn:switchboard:problem:invalid-request")
            }
        }
        try expectNothingStored(fixture)
    }

    @Test(arguments: [nil, "Basic dXNlcjpwYXNz", "Bearer not-a-key-we-know"])
    func aMissingOrWrongKeyIs401AndAudited(authorization: String?) async throws {
        // A clock held still: two requests either side of a minute's end would be two events.
        let fixture = try GatewayFixture(clock: ManualClock())
        try await fixture.test { client in
            var fields = headers(key: nil)
            if let authorization { fields[.authorization] = authorization }
            try await client.execute(uri: "/v1/referrals", method: .post, headers: fields, body: ByteBuffer(data: try exampleReferral())) {
                response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate]?.hasPrefix("Bearer realm=\"switchboard\"") == true)
                try expectProblem(response, "urn:switchboard:problem:unauthorised")
            }
            try await client.execute(uri: "/v1/referrals/\(Identifier.make())", method: .get, headers: fields) {
                #expect($0.status == .unauthorized)
            }
        }
        try expectNothingStored(fixture)
        // Counted per address and minute: one event, written when the minute is over.
        await fixture.application.frontDoor.flush(all: true)
        let events = try await fixture.components.store.auditEvents(afterSequence: 0, limit: 10)
        #expect(events.map(\.kind) == ["auth.rejected"])
        #expect(events.first?.detail.hasPrefix("2 requests from ") == true)
        #expect(!events.contains { $0.detail.contains("/v1/referrals") }, "no path is recorded")
        if let authorization { #expect(!events.contains { $0.detail.contains(authorization) }, "the presented key is never recorded") }
    }

    @Test func aKeyOfTheWrongRoleIs403() async throws {
        let fixture = try GatewayFixture()
        try await fixture.test { client in
            for key in [GatewayFixture.agencyKey, GatewayFixture.adminKey] {
                try await client.execute(
                    uri: "/v1/referrals", method: .post, headers: headers(key: key), body: ByteBuffer(data: try exampleReferral())
                ) {
                    response in
                    #expect(response.status == .forbidden)
                    try expectProblem(response, "urn:switchboard:problem:forbidden")
                }
            }
            // An agency key reads a referral only as its agency's view: one not sent there is 404, as if absent.
            try await client.execute(uri: "/v1/referrals/\(Identifier.make())", method: .get, headers: headers(key: GatewayFixture.agencyKey)) {
                #expect($0.status == .notFound)
            }
            try await client.execute(uri: "/v1/attention", method: .get, headers: headers(key: GatewayFixture.agencyKey)) {
                #expect($0.status == .forbidden)
            }
            try await client.execute(uri: "/v1/agency/referrals", method: .get, headers: headers(key: GatewayFixture.referrerKey)) {
                #expect($0.status == .forbidden)
            }
        }
        try expectNothingStored(fixture)
    }

    @Test(arguments: ["/v1/referrals/\(Identifier.make())", "/v1/referrals/not-an-id", "/v2/anything", "/"])
    func unknownThingsAre404(uri: String) async throws {
        let fixture = try GatewayFixture()
        try await fixture.test { client in
            try await client.execute(uri: uri, method: .get, headers: headers(key: GatewayFixture.adminKey)) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.contentType] == "application/problem+json")
                try expectProblem(response, "urn:switchboard:problem:not-found")
            }
        }
    }

    @Test(arguments: [
        ("/v1/referrals", HTTPRequest.Method.delete, "POST"), ("/v1/referrals", .get, "POST"),
        ("/v1/referrals/\(Identifier.make())", .put, "GET"), ("/healthz", .post, "GET"), ("/v1/rules", .delete, "GET, PUT"),
        ("/v1/rules/test", .get, "POST"), ("/v1/rules/versions/1", .put, "GET"),
    ])
    func anUnregisteredMethodIs405WithAllow(uri: String, method: HTTPRequest.Method, allow: String) async throws {
        let fixture = try GatewayFixture()
        try await fixture.test { client in
            try await client.execute(uri: uri, method: method, headers: headers(key: GatewayFixture.referrerKey)) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == allow)
                try expectProblem(response, "urn:switchboard:problem:method-not-allowed")
            }
        }
        try expectNothingStored(fixture)
    }

    @Test func reusingAnIdempotencyKeyWithAnotherBodyIs409() async throws {
        let fixture = try GatewayFixture()
        try await fixture.test { client in
            let key = [("Idempotency-Key", "same-key")]
            try await client.execute(
                uri: "/v1/referrals", method: .post, headers: headers(key: GatewayFixture.referrerKey, extra: key),
                body: ByteBuffer(data: try exampleReferral("referral-falls"))
            ) { #expect($0.status == .accepted) }
            try await client.execute(
                uri: "/v1/referrals", method: .post, headers: headers(key: GatewayFixture.referrerKey, extra: key),
                body: ByteBuffer(data: try exampleReferral("referral-crisis"))
            ) { response in
                #expect(response.status == .conflict)
                try expectProblem(response, "urn:switchboard:problem:idempotency-key-reused")
            }
        }
        #expect(try fixture.count("referrals") == 1)
    }

    @Test func aBodyOverOneMebibyteIs413ByLengthOrWhileReading() async throws {
        let fixture = try GatewayFixture()
        let large = ByteBuffer(repeating: UInt8(ascii: " "), count: (1 << 20) + 1)
        try await fixture.test { client in
            var declared = headers(key: GatewayFixture.referrerKey)
            declared[.contentLength] = String((1 << 20) + 1)
            try await client.execute(uri: "/v1/referrals", method: .post, headers: declared, body: large) { response in
                #expect(response.status == .contentTooLarge)
                try expectProblem(response, "urn:switchboard:problem:body-too-large")
            }
            // No Content-Length (as with chunked encoding): refused once the limit is passed.
            try await client.execute(uri: "/v1/referrals", method: .post, headers: headers(key: GatewayFixture.referrerKey), body: large) {
                #expect($0.status == .contentTooLarge)
            }
            try await client.execute(
                uri: "/v1/referrals/\(Identifier.make())", method: .get, headers: headers(key: GatewayFixture.referrerKey), body: large
            ) {
                #expect($0.status == .contentTooLarge)
            }
        }
        try expectNothingStored(fixture)
    }

    @Test func aBodyThatIsNotJSONIs415() async throws {
        let fixture = try GatewayFixture()
        try await fixture.test { client in
            var fields = headers(key: GatewayFixture.referrerKey, json: false)
            fields[.contentType] = "text/plain"
            try await client.execute(uri: "/v1/referrals", method: .post, headers: fields, body: ByteBuffer(data: try exampleReferral())) {
                response in
                #expect(response.status == .unsupportedMediaType)
                try expectProblem(response, "urn:switchboard:problem:unsupported-media-type")
            }
        }
        try expectNothingStored(fixture)
    }

    @Test func aKeyOverItsRateIs429WithRetryAfter() async throws {
        // The gateway's clock stands still, so the wait it names is exact however busy the machine.
        let fixture = try GatewayFixture(rateLimit: 0.01, burst: 2, clock: ManualClock())
        try await fixture.test { client in
            for _ in 0..<2 {
                try await client.execute(uri: "/v1/referrals/\(Identifier.make())", method: .get, headers: headers(key: GatewayFixture.adminKey)) {
                    #expect($0.status == .notFound)
                }
            }
            try await client.execute(uri: "/v1/referrals", method: .post, headers: headers(key: GatewayFixture.adminKey, json: true)) {
                #expect($0.status == .forbidden, "role is checked before rate")
            }
            try await client.execute(uri: "/v1/referrals/\(Identifier.make())", method: .get, headers: headers(key: GatewayFixture.adminKey)) {
                response in
                #expect(response.status == .tooManyRequests)
                #expect(response.headers[.retryAfter] == "100", "one request every 100 s at 0.01 requests a second")
                try expectProblem(response, "urn:switchboard:problem:too-many-requests")
            }
            // Each key has its own allowance.
            try await client.execute(
                uri: "/v1/referrals", method: .post, headers: headers(key: GatewayFixture.referrerKey), body: ByteBuffer(data: try exampleReferral())
            ) { #expect($0.status == .accepted) }
        }
    }

    @Test func aStorageFaultIs500AndAcknowledgesNothing() async throws {
        let fixture = try GatewayFixture()
        let databasePath = fixture.databasePath
        try await fixture.test { client in
            let receipt = try await client.execute(
                uri: "/v1/referrals", method: .post, headers: headers(key: GatewayFixture.referrerKey), body: ByteBuffer(data: try exampleReferral())
            ) { try JSONDecoder().decode(SubmissionReceipt.self, from: Data(buffer: $0.body)) }
            // Break the database behind the gateway's back.
            try SQLiteInspector(path: databasePath).execute("DROP TABLE deliveries")
            try await client.execute(
                uri: "/v1/referrals", method: .post, headers: headers(key: GatewayFixture.referrerKey),
                body: ByteBuffer(data: try exampleReferral("referral-crisis"))
            ) { (response: TestResponse) async throws in
                #expect(response.status == .internalServerError)
                try expectProblem(response, "urn:switchboard:problem:internal-error")
                #expect(response.headers[.location] == nil)
            }
            try await client.execute(uri: "/v1/referrals/\(receipt.id)", method: .get, headers: headers(key: GatewayFixture.adminKey)) {
                response in
                #expect(response.status == .internalServerError)
                #expect(response.headers[.contentType] == "application/problem+json")
            }
        }
        #expect(try fixture.count("referrals") == 1, "the failed referral's transaction rolled back")
    }
}
