import Foundation
import Testing

/// The delivery engine as an operator meets it: the real gateway and command line, real agency
/// receivers, real HTTP.
@Suite(.serialized) struct QueueEndToEndTests {
    @Test func aSecondGatewayOnTheSameDatabaseRefusesToStartAndSaysWhy() async throws {
        let deployment = try LocalDeployment()
        defer { deployment.stopAll() }
        try await deployment.startGateway()
        let second = try await deployment.run(["serve", "--config", deployment.configPath, "--log-level", "warning"])
        #expect(second.status != 0)
        #expect(second.errors.contains("another Switchboard gateway is already running on"), "\(second.errors)")
        // The first one is unharmed.
        let (status, _) = try await deployment.submit(try example("referral-falls"))
        #expect(status == 202)
    }

    @Test func aGatewayKilledMidDeliveryResendsAtOnceWithTheSameWebhookId() async throws {
        let deployment = try LocalDeployment()
        defer { deployment.stopAll() }
        // The crisis team takes three seconds to answer: long enough to kill the gateway mid-delivery.
        try await deployment.startReceiver("oxford-mh-crisis", delayMilliseconds: 3_000)
        try await deployment.startGateway()
        let (status, body) = try await deployment.submit(try example("referral-crisis"))
        #expect(status == 202)
        let id = try #require(body["id"] as? String)
        let deadline = ContinuousClock.now + .seconds(20)
        while deployment.deliveries(to: "oxford-mh-crisis").isEmpty, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(deployment.deliveries(to: "oxford-mh-crisis").count == 1, "the delivery is in flight")
        deployment.gateway?.kill(SIGKILL)
        _ = try await deployment.gateway?.exitStatus()

        let restarted = ContinuousClock.now
        try await deployment.startGateway()
        try await deployment.waitForReport(id, "delivered after the restart") { $0["status"] as? String == "delivered" }
        // Taken back at once, not after the 22 s lease the killed process held.
        #expect(restarted.duration(to: .now) < .seconds(15))
        let arrivals = deployment.deliveries(to: "oxford-mh-crisis")
        #expect(arrivals.count == 2, "only the one in flight was sent twice")
        #expect(Set(arrivals.compactMap { $0["webhookId"] as? String }).count == 1, "with the same webhook-id, so the agency can drop it")
        #expect(arrivals.last?["duplicate"] as? Bool == true)
    }

    @Test func operatorsSeeTheQueueReplayDeadLettersAndPauseAnAgencyFromTheCommandLine() async throws {
        let deployment = try LocalDeployment()
        defer { deployment.stopAll() }
        // The council's front door refuses everything at first: the referral is dead-lettered.
        try await deployment.startReceiver("oxfordshire-spa", status: 422)
        try await deployment.startGateway()
        let (_, body) = try await deployment.submit(try councilReferral())
        let id = try #require(body["id"] as? String)
        try await deployment.waitForReport(id, "dead-lettered") { $0["status"] as? String == "needs-attention" }
        let gateway = ["--gateway", deployment.gatewayURL, "--api-key", deployment.adminKey]

        let queue = try await deployment.run(["queue"] + gateway)
        #expect(queue.status == 0, "\(queue.errors)")
        let spaLine = try #require(queue.output.split(separator: "\n").first { $0.hasPrefix("oxfordshire-spa") })
        #expect(spaLine.split(separator: " ", omittingEmptySubsequences: true).prefix(6) == ["oxfordshire-spa", "0", "0", "0", "0", "1"])
        let dead = try await deployment.run(["queue", "dead", "--agency", "oxfordshire-spa"] + gateway)
        #expect(dead.output.contains("after 1 attempts: HTTP 422"), "\(dead.output)")

        // The council fixes its system, but is mid-upgrade: pause it, replay, and nothing goes yet.
        deployment.receivers["oxfordshire-spa"]?.kill(SIGKILL)
        try await deployment.startReceiver("oxfordshire-spa")
        let paused = try await deployment.run(["queue", "pause", "--agency", "oxfordshire-spa", "--reason", "case system upgrade"] + gateway)
        #expect(paused.status == 0, "\(paused.errors)")
        #expect(paused.output.contains("paused by e2e-admin"), "\(paused.output)")
        let retried = try await deployment.run(["queue", "retry", "--agency", "oxfordshire-spa"] + gateway)
        #expect(retried.output.contains("Requeued 1"), "\(retried.output)")
        let again = try await deployment.run(["queue", "retry", "--agency", "oxfordshire-spa"] + gateway)
        #expect(again.output.contains("Nothing to replay"), "each dead letter is replayed once: \(again.output)")
        try await Task.sleep(for: .seconds(1.5))
        #expect(deployment.deliveries(to: "oxfordshire-spa").isEmpty, "nothing is sent to a paused agency")
        let waiting = try await deployment.run(["queue"] + gateway)
        #expect(waiting.output.contains("paused by e2e-admin"), "\(waiting.output)")

        let resumed = try await deployment.run(["queue", "resume", "--agency", "oxfordshire-spa"] + gateway)
        #expect(resumed.status == 0, "\(resumed.errors)")
        let report = try await deployment.waitForReport(id, "delivered after the resume") { $0["status"] as? String == "delivered" }
        let history = (report["history"] as? [[String: Any]] ?? []).compactMap { $0["event"] as? String }
        #expect(history.contains("delivery.requeued"))
        #expect(deployment.deliveries(to: "oxfordshire-spa").count == 1)

        let unknown = try await deployment.run(["queue", "pause", "--agency", "no-such-agency"] + gateway)
        #expect(unknown.status != 0)
        #expect(unknown.errors.contains("No agency with that id is configured"), "\(unknown.errors)")
    }

    @Test func aTestDeliveryShowsWhetherANewEndpointIsReady() async throws {
        let deployment = try LocalDeployment()
        defer { deployment.stopAll() }
        try await deployment.startReceiver("oxford-falls")
        try await deployment.startGateway()
        let gateway = ["--gateway", deployment.gatewayURL, "--api-key", deployment.adminKey]
        let ready = try await deployment.run(["agencies", "ping", "oxford-falls"] + gateway)
        #expect(ready.status == 0, "\(ready.errors)")
        #expect(ready.output.contains("accepted, HTTP 202"), "\(ready.output)")
        #expect(ready.output.contains("signed with the agency's secret"), "\(ready.output)")
        let arrived = try #require(deployment.deliveries(to: "oxford-falls").first)
        #expect(arrived["verified"] as? Bool == true, "the agency verified the signature")
        #expect((arrived["body"] as? [String: Any])?["type"] as? String == "switchboard.test")
        #expect((arrived["body"] as? [String: Any])?["test"] as? Bool == true)

        let dark = try await deployment.run(["agencies", "ping", "oxfordshire-spa"] + gateway)
        #expect(dark.status != 0)
        #expect(dark.output.contains("failed, no answer"), "\(dark.output)")

        // Before a change goes live: the dark agency tested at the new system a proposed file gives it.
        let live = try String(contentsOf: deployment.directory.appendingPathComponent("agencies.yaml"), encoding: .utf8)
        let spa = "http://127.0.0.1:\(try #require(deployment.ports["oxfordshire-spa"]))/"
        let falls = "http://127.0.0.1:\(try #require(deployment.ports["oxford-falls"]))/"
        let proposed = deployment.directory.appendingPathComponent("agencies-proposed.yaml")
        try live.replacingOccurrences(of: spa, with: falls).write(to: proposed, atomically: true, encoding: .utf8)
        let tried = try await deployment.run(["agencies", "ping", "oxfordshire-spa", "--proposed", proposed.path] + gateway)
        #expect(tried.output.contains("oxfordshire-spa at \(falls)"), "\(tried.output) \(tried.errors)")
        #expect(!tried.output.contains("no answer"), "it reached the proposed endpoint: \(tried.output)")
        #expect(deployment.deliveries(to: "oxford-falls").count == 2)
        let still = try await deployment.run(["agencies", "ping", "oxfordshire-spa"] + gateway)
        #expect(still.output.contains("failed, no answer"), "nothing was installed: \(still.output)")
        try "agencies:\n  - {id: x}\n".write(to: proposed, atomically: true, encoding: .utf8)
        let broken = try await deployment.run(["agencies", "ping", "oxfordshire-spa", "--proposed", proposed.path] + gateway)
        #expect(broken.status != 0 && broken.errors.contains(":2:5: error: an agency is missing 'adapter'"), "\(broken.errors)")
    }
}
