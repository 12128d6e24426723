import Foundation
import Testing

/// The emergency path through the real gateway, real receivers and real time: a crisis team that
/// cannot act is not waited on, and when nobody can act a person on call is told at once.
@Suite(.serialized) struct ClinicalSafetyEndToEndTests {
    /// A deployment whose crisis rule has the befriending charity's lane as its alternative (any
    /// agency would do for the path), with alerts to a receiver of their own.
    func deployment() throws -> LocalDeployment {
        let deployment = try LocalDeployment()
        let rules = try String(contentsOfFile: deployment.rulesPath, encoding: .utf8)
            .replacingOccurrences(
                of: "    route_to: oxford-mh-crisis\n", with: "    route_to: oxford-mh-crisis\n    alternatives: [oxfordshire-befriending]\n")
        try rules.write(toFile: deployment.rulesPath, atomically: true, encoding: .utf8)
        let config = try String(contentsOfFile: deployment.configPath, encoding: .utf8)
        try (config + "\nalerts: { url: 'http://127.0.0.1:\(deployment.callbackPort)/alerts', secret_env: E2E_CALLBACK_SECRET }\n")
            .write(toFile: deployment.configPath, atomically: true, encoding: .utf8)
        return deployment
    }

    func pause(_ agency: String, _ deployment: LocalDeployment) async throws {
        let (status, _) = try await deployment.admin(
            "/v1/agencies/\(agency)/pause", method: "POST", headers: [("Content-Type", "application/json")],
            body: Array(#"{"reason": "planned upgrade"}"#.utf8))
        #expect(status == 200)
    }

    @Test func anEmergencyForAPausedCrisisTeamReachesTheAlternativeWithinSecondsAndAPersonIsAlertedWhenNobodyCanAct() async throws {
        let deployment = try deployment()
        defer { deployment.stopAll() }
        try await deployment.startAllReceivers()
        try await deployment.startReceiver(
            "alerts", port: deployment.callbackPort, as: "alerts", secretEnv: "E2E_CALLBACK_SECRET")
        try await deployment.startGateway()
        try await pause("oxford-mh-crisis", deployment)

        let sent = ContinuousClock.now
        let (status, receipt) = try await deployment.submit(try example("referral-crisis"))
        #expect(status == 202)
        #expect((receipt["routes"] as? [[String: Any]])?.compactMap { $0["agency"] as? String } == ["oxfordshire-befriending"])
        let id = try #require(receipt["id"] as? String)
        try await deployment.waitForReport(id, timeout: 10, "delivered to the alternative") { $0["status"] as? String == "delivered" }
        #expect(sent.duration(to: .now) < .seconds(10), "within seconds, not the crisis team's hour")
        #expect(deployment.deliveries(to: "oxford-mh-crisis").isEmpty, "nothing waits on the paused team")
        let report = try await deployment.report(id)
        let redirected = (report["history"] as? [[String: Any]])?.first { $0["event"] as? String == "referral.redirected" }
        #expect((redirected?["detail"] as? String)?.hasPrefix("oxford-mh-crisis paused by e2e-admin (planned upgrade)") == true)

        // With the alternative and the fallback paused too, nobody can act: a person on call is told at once.
        try await pause("oxfordshire-befriending", deployment)
        try await pause("oxfordshire-spa", deployment)
        let (_, held) = try await deployment.submit(try example("referral-crisis"))
        let waiting = try #require(held["id"] as? String)
        let deadline = ContinuousClock.now + .seconds(10)
        while deployment.deliveries(to: "alerts").isEmpty, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
        let alert = try #require(deployment.deliveries(to: "alerts").first)
        #expect(alert["verified"] as? Bool == true, "signed, and the receiver checked it")
        let event = try #require(alert["body"] as? [String: Any])
        #expect(event["type"] as? String == "attention.opened")
        let data = try #require(event["data"] as? [String: String])
        #expect(data["referralId"] == waiting && data["urgency"] == "emergency")
        #expect(!String(describing: alert).contains("Exampleton"), "an alert carries no personal data")
        let (_, list) = try await deployment.admin("/v1/attention")
        let item = try #require((list["items"] as? [[String: Any]])?.first { $0["referralId"] as? String == waiting })
        #expect(item["urgency"] as? String == "emergency" && item["dueAt"] != nil)
    }
}
