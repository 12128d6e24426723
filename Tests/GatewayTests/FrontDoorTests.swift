import Foundation
import Gateway
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import ReferralModel
import Storage
import SwitchboardTesting
import Synchronization
import Testing

/// What the gateway refuses before it does any work, and what such refusals cost.
@Suite struct FrontDoorTests {
    /// The example referral with some of its members replaced.
    func referral(_ change: (inout [String: Any]) -> Void) throws -> ByteBuffer {
        var object = try #require(try JSONSerialization.jsonObject(with: exampleReferral()) as? [String: Any])
        change(&object)
        return ByteBuffer(data: try JSONSerialization.data(withJSONObject: object))
    }

    @Test func aControlCharacterInATextFieldIs422WithTheFieldsPointer() async throws {
        let fixture = try GatewayFixture()
        let body = try referral { object in
            var subject = object["subject"] as? [String: Any] ?? [:]
            subject["givenName"] = "Marg\u{0}aret"
            subject["address"] = "12 Example Road\r\nHeadington\u{1B}[2J"
            object["subject"] = subject
            object["reason"] = "Two falls.\n\tLives alone.\u{85}"
            object["externalReference"] = "REF\t42"
        }
        try await fixture.test { client in
            try await client.execute(uri: "/v1/referrals", method: .post, headers: headers(key: GatewayFixture.referrerKey), body: body) {
                response in
                #expect(response.status == .unprocessableContent)
                let problem = try response.problem()
                let byPointer = Dictionary((problem.errors ?? []).map { ($0.pointer, $0.detail) }, uniquingKeysWith: { first, _ in first })
                #expect(byPointer.keys.sorted() == ["/externalReference", "/reason", "/subject/address", "/subject/givenName"])
                #expect(byPointer["/subject/givenName"] == "must not contain control characters; it holds U+0000.")
                #expect(byPointer["/subject/address"]?.contains("U+001B") == true)
                #expect(byPointer["/reason"]?.contains("U+0085") == true)
                #expect(byPointer["/externalReference"]?.contains("U+0009") == true, "a tab is allowed in free text only")
                #expect(!String(buffer: response.body).contains("Marg"), "the problem names the character, not the text")
            }
        }
        #expect(try fixture.count("referrals") == 0)
    }

    @Test func freeTextKeepsLineBreaksAndTabs() async throws {
        let fixture = try GatewayFixture()
        let body = try referral { object in
            object["reason"] = "Two falls.\r\n\tLives alone."
        }
        try await fixture.test { client in
            try await client.execute(uri: "/v1/referrals", method: .post, headers: headers(key: GatewayFixture.referrerKey), body: body) {
                #expect($0.status == .accepted)
            }
        }
    }

    @Test(arguments: [
        ("application/json; charset=utf-16", false), ("application/json; charset=iso-8859-1", false),
        ("application/json;charset=\"UTF-32\"", false), ("application/json; charset=utf-8", true), ("application/json; charset=\"UTF-8\"", true),
        ("Application/JSON", true),
    ])
    func onlyUTF8JSONIsRead(contentType: String, read: Bool) async throws {
        let fixture = try GatewayFixture()
        try await fixture.test { client in
            var fields = headers(key: GatewayFixture.referrerKey)
            fields[.contentType] = contentType
            try await client.execute(uri: "/v1/referrals", method: .post, headers: fields, body: ByteBuffer(data: try exampleReferral())) {
                response in
                if read {
                    #expect(response.status == .accepted)
                } else {
                    #expect(response.status == .unsupportedMediaType)
                    try expectProblem(response, "urn:switchboard:problem:unsupported-media-type")
                }
            }
        }
        #expect(try fixture.count("referrals") == (read ? 1 : 0))
    }

    @Test func aFloodOfBadKeysIsAnswered429AndCostsOneAuditEventPerAddressAndMinute() async throws {
        // The gateway's clock stands still: the allowance is exactly what is configured, however busy the machine.
        let fixture = try GatewayFixture(clock: ManualClock())
        let personal = "/v1/referrals/Margaret-Testperson-9997654323"
        let collected = Mutex<[HTTPResponse.Status]>([])
        try await fixture.test { client in
            for index in 0..<200 {
                var fields = headers(key: "sb_not_a_key_\(index)")
                if index % 4 == 0 { fields[.authorization] = nil }
                try await client.execute(uri: personal, method: .get, headers: fields) { response in
                    collected.withLock { $0.append(response.status) }
                    if response.status == .tooManyRequests {
                        #expect(Int(response.headers[.retryAfter] ?? "") ?? 0 >= 1)
                        try expectProblem(response, "urn:switchboard:problem:too-many-requests")
                    }
                }
            }
            // A valid key is never held back by the address it comes from.
            try await client.execute(
                uri: "/v1/referrals", method: .post, headers: headers(key: GatewayFixture.referrerKey), body: ByteBuffer(data: try exampleReferral())
            ) { #expect($0.status == .accepted) }
        }
        let statuses = collected.withLock { $0 }
        #expect(statuses.prefix(30).allSatisfy { $0 == .unauthorized }, "an allowance of 30 refusals a minute")
        #expect(statuses.dropFirst(30).allSatisfy { $0 == .tooManyRequests }, "then 429 until refusals are earned back, one every two seconds")
        // The refusals cost no audit row until their minute is over, then one.
        let before = try await fixture.components.store.auditEvents(afterSequence: 0, limit: 1_000).filter { $0.kind == "auth.rejected" }
        #expect(before.isEmpty, "the minute is not over")
        await fixture.application.frontDoor.flush(all: true)
        let refusals = try await fixture.components.store.auditEvents(afterSequence: 0, limit: 1_000).filter { $0.kind == "auth.rejected" }
        #expect(refusals.count == 1, "one address, one minute")
        let counted = refusals.compactMap { Int($0.detail.prefix { $0.isNumber }) }.reduce(0, +)
        #expect(counted == 200)
        for event in refusals {
            #expect(event.detail.contains("unknown API key") && event.detail.contains("no Authorization header"))
            #expect(!event.detail.contains("Margaret") && !event.detail.contains("9997654323") && !event.detail.contains("sb_not_a_key"))
        }
        guard case .intact = try await fixture.components.store.verifyAudit() else {
            Issue.record("the audit chain does not verify")
            return
        }
    }

    @Test func aRequestWithoutAValidKeyIsRefusedBeforeItsBodyIsRead() async throws {
        let fixture = try GatewayFixture()
        try await fixture.test { client in
            var fields = headers(key: "not-a-key-we-know")
            fields[.contentLength] = String(1 << 21)
            // Two megabytes declared: refused for the key (401), not read and refused for its size (413).
            try await client.execute(
                uri: "/v1/referrals", method: .post, headers: fields, body: ByteBuffer(repeating: UInt8(ascii: " "), count: 1 << 21)
            ) { #expect($0.status == .unauthorized) }
            // With a valid key the size is what is wrong.
            fields[.authorization] = "Bearer \(GatewayFixture.referrerKey)"
            try await client.execute(
                uri: "/v1/referrals", method: .post, headers: fields, body: ByteBuffer(repeating: UInt8(ascii: " "), count: 1 << 21)
            ) { #expect($0.status == .contentTooLarge) }
        }
    }

    @Test func behindATrustedProxyRefusalsAreCountedByTheForwardedClientAndOnlyAnAddressIsTaken() async throws {
        // A clock held still, so the allowance is exact and every refusal falls in one minute.
        // A header timeout a loaded machine cannot reach between two of the test's requests: a CI run
        // that stalled over 10 s saw its kept-alive connection closed under it.
        let fixture = try GatewayFixture(
            server: "trusted_proxies: [127.0.0.1, '10.0.0.0/8'], header_timeout_seconds: 300", clock: ManualClock())
        let app = try fixture.application.application(logger: Logger(label: "test"))
        try await app.test(.live) { (client: any TestClientProtocol) async throws in
            func refuse(forwardedFor: String) async throws -> HTTPResponse.Status {
                var fields = headers(key: "not-a-key")
                fields[HTTPField.Name("X-Forwarded-For")!] = forwardedFor
                return try await client.execute(uri: "/v1/referrals/x", method: .get, headers: fields) { $0.status }
            }
            // One client, through two trusted proxies, uses up its allowance...
            var first: [HTTPResponse.Status] = []
            while first.last != .tooManyRequests, first.count < 100 {
                first.append(try await refuse(forwardedFor: "203.0.113.5, 10.1.2.3"))
            }
            #expect(first.prefix(30).allSatisfy { $0 == .unauthorized } && first.last == .tooManyRequests)
            // ...which another client behind the same proxy still has.
            let other = try await refuse(forwardedFor: "198.51.100.7")
            #expect(other == .unauthorized)
            // What is not an address is not taken: counted under the proxy's own.
            let named = try await refuse(forwardedFor: "Margaret Testperson")
            #expect(named == .unauthorized)
        }
        await fixture.application.frontDoor.flush(all: true)
        let details = try await fixture.components.store.auditEvents(afterSequence: 0, limit: 100).filter { $0.kind == "auth.rejected" }
            .map(\.detail)
        #expect(details.contains { $0.contains(" requests from 203.0.113.5 ") && $0.contains("1 answered 429") })
        #expect(details.contains { $0.hasPrefix("1 request from 198.51.100.7 ") })
        #expect(details.contains { $0.hasPrefix("1 request from 127.0.0.1 ") })
        #expect(!details.contains { $0.contains("Margaret") })
    }
}
