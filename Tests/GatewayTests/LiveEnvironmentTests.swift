import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// A live gateway (`environment: production`) refuses NHS numbers in the 999 test range, at the
/// field, and says it is live on `/readyz` and in the console; a test system accepts them and says
/// so on every console page.
@Suite struct LiveEnvironmentTests {
    /// The falls example with `nhsNumber` in place of its 999 one.
    func referral(nhsNumber: String) throws -> ByteBuffer {
        ByteBuffer(
            string: String(decoding: try exampleReferral(), as: UTF8.self).replacingOccurrences(of: "999 000 0018", with: nhsNumber))
    }

    @Test func aLiveGatewayRefusesATestRangeNHSNumberAtItsFieldAndTakesARealOne() async throws {
        let fixture = try GatewayFixture(sections: "environment: production")
        try await fixture.components.start()
        try await fixture.test { client in
            let refused = try await client.execute(
                uri: "/v1/referrals", method: .post, headers: headers(key: GatewayFixture.referrerKey), body: try referral(nhsNumber: "999 000 0018")
            ) { ($0.status, try JSONDecoder().decode(ProblemBody.self, from: Data(buffer: $0.body))) }
            #expect(refused.0 == .unprocessableContent)
            #expect(refused.1.errors?.map(\.pointer) == ["/subject/nhsNumber"])
            #expect(refused.1.errors?.first?.detail.contains("999 range") == true)
            try await client.execute(
                uri: "/v1/referrals", method: .post, headers: headers(key: GatewayFixture.referrerKey), body: try referral(nhsNumber: "943 476 5919")
            ) { #expect($0.status == .accepted) }
            try await client.execute(uri: "/readyz", method: .get) { response in
                let body = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                #expect(body?["environment"] as? String == "production")
            }
            var admin = ConsoleBrowser(client)
            let page = try await admin.signIn(GatewayFixture.adminKey)
            #expect(page.body.contains("Environment: production.") && !page.body.contains("Test system."))
        }
        #expect(try fixture.count("referrals") == 1, "the refused referral changed nothing")
    }

    @Test func aTestSystemAcceptsTheTestRangeAndSaysSoOnEveryPage() async throws {
        let fixture = try GatewayFixture()
        try await fixture.test { client in
            try await client.execute(
                uri: "/v1/referrals", method: .post, headers: headers(key: GatewayFixture.referrerKey), body: try referral(nhsNumber: "999 000 0018")
            ) { #expect($0.status == .accepted) }
            try await client.execute(uri: "/readyz", method: .get) { response in
                let body = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                #expect(body?["environment"] as? String == "test")
            }
            var referrer = ConsoleBrowser(client)
            let signIn = try await referrer.get("/console/sign-in")
            #expect(signIn.body.contains("Test system.") && signIn.body.contains("Environment: test."))
        }
    }
}
