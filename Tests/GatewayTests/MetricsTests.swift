import Foundation
import Gateway
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import ReferralModel
import Testing

/// `/metrics` counts what operators watch, in Prometheus text format, and carries no personal data.
@Suite struct MetricsTests {
    /// The value of one series (`name{labels}`), or nil when it is not there.
    func value(_ text: String, _ series: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    @Test func referralsRefusalsQueuesAndRulesAreCountedWithoutPersonalData() async throws {
        let fixture = try GatewayFixture()
        let version = fixture.components.rules.live.current.rules.version
        try await fixture.test { client in
            for _ in 0..<2 {
                try await client.execute(
                    uri: "/v1/referrals", method: .post, headers: headers(key: GatewayFixture.referrerKey),
                    body: ByteBuffer(data: try exampleReferral())
                ) { #expect($0.status == .accepted) }
            }
            try await client.execute(
                uri: "/v1/referrals", method: .post, headers: headers(key: GatewayFixture.referrerKey),
                body: ByteBuffer(string: #"{"subject": {"givenName": "Margaret", "familyName": "Testperson"}, "needs": ["juggling"]}"#)
            ) { #expect($0.status == .unprocessableContent) }
            try await client.execute(uri: "/v1/referrals/Margaret-Testperson", method: .get, headers: headers(key: "not-a-key-Margaret")) {
                #expect($0.status == .unauthorized)
            }
            try await client.execute(uri: "/metrics", method: .get, headers: headers(key: GatewayFixture.referrerKey, json: false)) {
                #expect($0.status == .forbidden, "an admin key reads the metrics")
            }
            try await client.execute(uri: "/metrics", method: .get, headers: headers(key: GatewayFixture.adminKey, json: false)) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
                let text = String(buffer: response.body)
                #expect(value(text, "switchboard_referrals_received_total") == 2)
                #expect(value(text, #"switchboard_referrals_rejected_total{reason="invalid"}"#) == 1)
                #expect(value(text, #"switchboard_referrals_routed_total{rule="falls-oxfordshire"}"#) == 2)
                #expect(value(text, #"switchboard_auth_refused_total{reason="unknown API key",answer="401"}"#) == 1)
                #expect(value(text, #"switchboard_queue_pending{agency="oxford-falls"}"#) == 2, "nothing delivers in this test")
                #expect(value(text, #"switchboard_circuit_state{agency="oxford-falls"}"#) == 0)
                #expect(value(text, #"switchboard_rules_info{version="\#(version)"}"#) == 1)
                for personal in ["Margaret", "Testperson", "9990000018", "OX3 9DU", "juggling", "not-a-key"] {
                    #expect(!text.contains(personal), "\(personal) in /metrics")
                }
            }
        }
    }
}
