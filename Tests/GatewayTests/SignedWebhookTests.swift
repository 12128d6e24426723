import Crypto
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

/// A referrer key that must sign what it sends (`signature: {secret_env}`): the referrer's system
/// proves each body came from it unaltered, once, with Standard Webhooks headers.
@Suite struct SignedWebhookTests {
    static let key = "signing-gp-key-for-tests-01"

    static func fixture() throws -> GatewayFixture {
        let digest = APIKey.digest(of: key).map { String(format: "%02x", $0) }.joined()
        return try GatewayFixture(keys: ["{ id: signing-gp, role: referrer, sha256: \(digest), signature: { secret_env: TEST_SIGNING_SECRET } }"])
    }

    /// Standard Webhooks headers for `body`, signed with `secret`, as a referrer's system makes them.
    static func signed(
        _ body: Data, id: String = UUID().uuidString, at: Date = Date(), secret: String = GatewayFixture.signingSecret, json: Bool = true
    ) -> HTTPFields {
        var fields = json ? headers(key: key) : FHIRMessageTests.fhirHeaders(key)
        let timestamp = String(Int(at.timeIntervalSince1970))
        let keyBytes = Data(base64Encoded: String(secret.dropFirst(6)))!
        let mac = HMAC<SHA256>.authenticationCode(for: Array("\(id).\(timestamp).".utf8) + Array(body), using: SymmetricKey(data: keyBytes))
        fields[HTTPField.Name("webhook-id")!] = id
        fields[HTTPField.Name("webhook-timestamp")!] = timestamp
        fields[HTTPField.Name("webhook-signature")!] = "v1," + Data(mac).base64EncodedString()
        return fields
    }

    @Test func unsignedStaleForgedAndReplayedRequestsAreRefusedAndASignedOneAccepted() async throws {
        let fixture = try Self.fixture()
        let body = try exampleReferral()
        let replayed = Self.signed(body, id: "msg-1")
        try await fixture.test { client in
            // Unsigned: the key must sign.
            try await client.execute(uri: "/v1/referrals", method: .post, headers: headers(key: Self.key), body: ByteBuffer(data: body)) {
                #expect($0.status == .unauthorized)
                try expectProblem($0, "urn:switchboard:problem:unauthorised")
            }
            // Five minutes and more off the gateway's clock.
            try await client.execute(
                uri: "/v1/referrals", method: .post, headers: Self.signed(body, at: Date().addingTimeInterval(-301)), body: ByteBuffer(data: body)
            ) { #expect($0.status == .unauthorized) }
            // Signed with another secret, or over another body.
            try await client.execute(
                uri: "/v1/referrals", method: .post, headers: Self.signed(body, secret: "whsec_b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldA=="),
                body: ByteBuffer(data: body)
            ) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/v1/referrals", method: .post, headers: Self.signed(Data("{}".utf8)), body: ByteBuffer(data: body)) {
                #expect($0.status == .unauthorized)
            }
            try await client.execute(uri: "/v1/referrals", method: .post, headers: replayed, body: ByteBuffer(data: body)) {
                #expect($0.status == .accepted)
            }
            // The same message again: a replay.
            try await client.execute(uri: "/v1/referrals", method: .post, headers: replayed, body: ByteBuffer(data: body)) {
                #expect($0.status == .unauthorized)
                let problem = try $0.problem()
                #expect(problem.detail.contains("replay"))
            }
        }
        #expect(try fixture.count("referrals") == 1)
        let refusals = try await fixture.components.store.auditEvents(afterSequence: 0, limit: 1_000).filter {
            $0.kind == "auth.rejected" && $0.actor == "signing-gp"
        }
        #expect(refusals.count == 5)
        // Why, never what was sent.
        #expect(!refusals.contains { $0.detail.contains("Testperson") || $0.detail.contains("{") })
    }

    @Test func webhookHeadersNotShapedAsStandardWebhooksAre422FromAnyKeyAndStoreNothing() async throws {
        let fixture = try GatewayFixture()
        let body = try exampleReferral()
        try await fixture.test { client in
            for (name, value) in [("webhook-timestamp", ""), ("webhook-timestamp", "yesterday"), ("webhook-id", "")] {
                var fields = headers(key: GatewayFixture.referrerKey)
                fields[HTTPField.Name(name)!] = value
                try await client.execute(uri: "/v1/referrals", method: .post, headers: fields, body: ByteBuffer(data: body)) { response in
                    #expect(response.status == .unprocessableContent, "\(name): \(value)")
                    let problem = try response.problem()
                    #expect(problem.errors?.first?.detail.contains(name) == true)
                }
            }
        }
        #expect(try fixture.count("referrals") == 0)
    }

    @Test func aBaRSMessageFromASigningKeyIsSignedToo() async throws {
        let fixture = try Self.fixture()
        let message = try FHIRMessageTests.validRequest()
        let bytes = Data(buffer: message)
        try await fixture.test { client in
            try await client.execute(uri: FHIRMessageTests.path, method: .post, headers: FHIRMessageTests.fhirHeaders(Self.key), body: message) {
                #expect($0.status == .unauthorized)
                #expect(FHIRMessageTests.issues($0) == ["REC_UNAUTHORIZED at -"])
            }
            try await client.execute(uri: FHIRMessageTests.path, method: .post, headers: Self.signed(bytes, json: false), body: message) {
                #expect($0.status == .ok)
            }
        }
    }
}
