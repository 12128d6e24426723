import Foundation
import SwitchboardTesting
import Testing
import Transport

#if canImport(Glibc)
    import Glibc
#endif

/// Several gateway processes on one PostgreSQL database, as a deployment that must survive losing a
/// machine runs them: real processes, a real server the test starts, real agencies over HTTP.
@Suite(.serialized) struct SharedStoreEndToEndTests {
    static let examples = ["referral-falls", "referral-crisis", "referral-safeguarding"]

    @Test func threeGatewaysShareTheWorkAndOneKilledMidRunLosesNothingAndSendsNothingTwiceAtOnce() async throws {
        let database = try await TestPostgres.shared().makeDatabase(prefix: "e2e")
        let deployment = try LocalDeployment(storage: database.url)
        defer { deployment.stopAll() }
        // Each agency takes a while to answer, so deliveries are in flight when a gateway dies.
        for agency in LocalDeployment.agencies { try await deployment.startReceiver(agency, delayMilliseconds: 150) }
        var gateways = [
            try await deployment.launchGateway(name: "gateway-1"), try await deployment.launchGateway(name: "gateway-2"),
            try await deployment.launchGateway(name: "gateway-3"),
        ]
        defer { for gateway in gateways { gateway.process.kill(SIGKILL) } }

        var acknowledged: [String] = []
        var refused = 0
        for index in 0..<120 {
            if index == 40 {
                gateways[1].process.kill(SIGKILL)
                _ = try await gateways[1].process.exitStatus()
            }
            if index == 60 { gateways[1] = try await deployment.launchGateway(name: "gateway-2 again") }
            let body = try example(Self.examples[index % Self.examples.count])
            do {
                let (status, receipt) = try await deployment.submit(body, to: gateways[index % 3].url)
                if status == 202, let id = receipt["id"] as? String { acknowledged.append(id) } else { refused += 1 }
            } catch {
                refused += 1  // the killed gateway: nothing acknowledged, nothing promised
            }
        }
        #expect(acknowledged.count >= 100, "refused \(refused)")

        // Every acknowledged referral is delivered to every agency it was routed to.
        var deliveryIds: Set<String> = []
        for id in acknowledged {
            let report = try await deployment.waitForReport(id, timeout: 90, "delivered", at: gateways[0].url) { report in
                let states = deliveryStates(report)
                return !states.isEmpty && states.values.allSatisfy { $0 != "pending" }
            }
            for delivery in report["deliveries"] as? [[String: Any]] ?? [] {
                #expect(delivery["state"] as? String == "delivered", "\(id): \(delivery)")
                if let deliveryId = delivery["deliveryId"] as? String { deliveryIds.insert(deliveryId) }
            }
        }
        let received = LocalDeployment.agencies.flatMap { deployment.deliveries(to: $0) }
        let receivedIds = Set(received.compactMap { $0["webhookId"] as? String })
        #expect(deliveryIds.isSubset(of: receivedIds), "every delivery arrived")
        #expect(received.filter { $0["overlap"] as? Bool == true }.isEmpty, "no delivery was in two gateways' hands at once")
        // The only second sends are of deliveries the killed gateway had in flight (at most its
        // concurrency), with the same webhook-id, so the agency can tell.
        let duplicates = received.filter { $0["duplicate"] as? Bool == true }
        #expect(duplicates.count <= 8, "\(duplicates.count) duplicates")
        #expect(Set(duplicates.compactMap { $0["webhookId"] as? String }).isSubset(of: deliveryIds))

        // The gateways chained the events themselves as they ran (not only when the log was read).
        var turns = 0.0
        for gateway in gateways {
            let metrics = try await deployment.client.send(
                HTTPRequest(url: gateway.url + "/metrics", headers: [("Authorization", "Bearer \(deployment.adminKey)")]))
            for line in String(decoding: metrics.body, as: UTF8.self).split(separator: "\n")
            where line.hasPrefix("switchboard_audit_chain_appends ") {
                turns += Double(line.split(separator: " ").last ?? "") ?? 0
            }
        }
        #expect(turns > 0, "no gateway's sequencer chained anything")
        let verify = try await deployment.run(["audit", "verify", "--config", deployment.configPath])
        #expect(verify.status == 0, "\(verify.output) \(verify.errors)")
        #expect(verify.output.contains("intact"), "\(verify.output)")
        // Every acknowledged referral's events are in the chain, the killed gateway's too: what it
        // wrote unsequenced was chained by the others.
        let exported = try await deployment.run(["audit", "export", "--config", deployment.configPath])
        let chained = Set(
            exported.output.split(separator: "\n").compactMap { line -> String? in
                guard let event = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                    event["kind"] as? String == "referral.received"
                else { return nil }
                return event["referralId"] as? String
            })
        #expect(
            Set(acknowledged).isSubset(of: chained), "\(Set(acknowledged).subtracting(chained).count) acknowledged referrals have no chained events")
    }

    @Test func changesMadeThroughOneGatewayGovernEveryGateway() async throws {
        let database = try await TestPostgres.shared().makeDatabase(prefix: "e2e")
        let deployment = try LocalDeployment(storage: database.url)
        defer { deployment.stopAll() }
        try await deployment.startAllReceivers()
        let gateways = [
            try await deployment.launchGateway(name: "gateway-1"), try await deployment.launchGateway(name: "gateway-2"),
            try await deployment.launchGateway(name: "gateway-3"),
        ]
        defer { for gateway in gateways { gateway.process.kill(SIGKILL) } }

        // Rules applied through the first gateway route referrals at the third.
        let (_, live) = try await deployment.call("/v1/rules", key: deployment.adminKey, at: gateways[0].url)
        let before = try #require(live["version"] as? String)
        let proposed = deployment.directory.appendingPathComponent("proposed-rules.yaml").path
        try rulesSendingFallsToTheHubToo(try #require(live["text"] as? String)).write(toFile: proposed, atomically: true, encoding: .utf8)
        let apply = try await deployment.run(["rules", "apply", proposed, "--gateway", gateways[0].url, "--api-key", deployment.adminKey])
        #expect(apply.status == 0, "\(apply.errors)")
        let (_, applied) = try await deployment.call("/v1/rules", key: deployment.adminKey, at: gateways[0].url)
        let after = try #require(applied["version"] as? String)
        #expect(after != before)
        try await waitFor("the third gateway to route by the new rules", timeout: 5) {
            (try? await deployment.call("/v1/rules", key: deployment.adminKey, at: gateways[2].url).body["version"] as? String) == after
        }
        let (status, receipt) = try await deployment.submit(try example("referral-falls"), to: gateways[2].url)
        #expect(status == 202)
        #expect(receipt["rulesVersion"] as? String == after)
        #expect(
            Set((receipt["routes"] as? [[String: Any]] ?? []).compactMap { $0["agency"] as? String }).isSuperset(of: [
                "oxford-falls", "oxfordshire-mash",
            ]),
            "the new rule sends falls to the hub too")
        // The rules file was only the seed: it was not rewritten.
        #expect(try String(contentsOfFile: deployment.rulesPath, encoding: .utf8) != rulesSendingFallsToTheHubToo(live["text"] as? String ?? ""))

        // An agency changed through the third gateway is changed on the first.
        let (_, agencies) = try await deployment.call("/v1/agencies", key: deployment.adminKey, at: gateways[2].url)
        let agenciesBefore = try #require(agencies["version"] as? String)
        let renamed = try #require(agencies["text"] as? String).replacingOccurrences(
            of: "name: oxford-falls receiver", with: "name: Oxford falls service")
        let put = try await deployment.client.send(
            HTTPRequest(
                url: gateways[2].url + "/v1/agencies", method: "PUT",
                headers: [
                    ("Authorization", "Bearer \(deployment.adminKey)"), ("Content-Type", "application/yaml"),
                    ("If-Match", "\"\(agenciesBefore)\""),
                ], body: Array(renamed.utf8)))
        #expect(put.status == 200, "\(String(decoding: put.body, as: UTF8.self))")
        try await waitFor("the first gateway to have the changed agencies", timeout: 5) {
            let version = try? await deployment.call("/v1/agencies", key: deployment.adminKey, at: gateways[0].url).body["version"] as? String
            return version != nil && version != agenciesBefore
        }

        // An agency paused through the second gateway is paused on the first.
        let paused = try await deployment.call(
            "/v1/agencies/oxford-falls/pause", key: deployment.adminKey, method: "POST", json: #"{"reason": "upgrade"}"#, at: gateways[1].url)
        #expect(paused.status == 200, "\(paused.body)")
        try await waitFor("the first gateway to see the pause", timeout: 5) {
            let queue = try? await deployment.call("/v1/queue", key: deployment.adminKey, at: gateways[0].url).body
            let agencies = queue?["agencies"] as? [[String: Any]] ?? []
            return agencies.first { $0["agency"] as? String == "oxford-falls" }?["status"] as? String == "paused"
        }

        // A key made through one gateway works at another; revoked through a third, it stops working at all.
        let created = try await deployment.call(
            "/v1/keys", key: deployment.adminKey, method: "POST", json: #"{"owner": "Practice reception", "role": "referrer"}"#,
            at: gateways[0].url)
        #expect(created.status == 201, "\(created.body)")
        let key = try #require(created.body["key"] as? String)
        let keyId = try #require((created.body["details"] as? [String: Any])?["id"] as? String)
        try await waitFor("the new key to work at the second gateway", timeout: 5) {
            (try? await deployment.submit(try example("referral-falls"), key: key, to: gateways[1].url).status) == 202
        }
        let revoked = try await deployment.call("/v1/keys/\(keyId)/revoke", key: deployment.adminKey, method: "POST", at: gateways[2].url)
        #expect(revoked.status == 200, "\(revoked.body)")
        try await waitFor("the revoked key to be refused at the first gateway", timeout: 5) {
            (try? await deployment.submit(try example("referral-falls"), key: key, to: gateways[0].url).status) == 401
        }
    }

    @Test func aDatabaseStoppedForTenSecondsUnderLoadLosesNothingAndTheGatewaysRecoverWithoutARestart() async throws {
        let server = try await TestPostgres.started()
        defer { server.stopLater() }
        let database = try await server.makeDatabase(prefix: "e2e")
        let deployment = try LocalDeployment(storage: database.url)
        defer { deployment.stopAll() }
        try await deployment.startAllReceivers()
        let gateways = [try await deployment.launchGateway(name: "gateway-1"), try await deployment.launchGateway(name: "gateway-2")]
        defer { for gateway in gateways { gateway.process.kill(SIGKILL) } }

        let started = ContinuousClock.now
        var outage: Task<Void, any Error>?
        var acknowledged: [String] = []
        var statuses: [Int: Int] = [:]
        var unavailableWithoutRetryAfter = 0
        var index = 0
        while started.duration(to: .now) < .seconds(18) {
            if outage == nil, started.duration(to: .now) > .seconds(2) {
                outage = Task.detached {
                    try await server.stop()
                    try await Task.sleep(for: .seconds(10))
                    try await server.start()
                }
            }
            let sent = ContinuousClock.now
            let response: HTTPResponse
            do {
                response = try await deployment.client.send(
                    HTTPRequest(
                        url: gateways[index % 2].url + "/v1/referrals", method: "POST",
                        headers: [("Authorization", "Bearer \(deployment.referrerKey)"), ("Content-Type", "application/json")],
                        body: Array(try example(Self.examples[index % Self.examples.count]))))
            } catch {
                Issue.record("request \(index) at \(started.duration(to: sent)) failed after \(sent.duration(to: .now)): \(error)")
                throw error
            }
            statuses[response.status, default: 0] += 1
            if response.status == 202, let body = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
                let id = body["id"] as? String
            {
                acknowledged.append(id)
            }
            if response.status == 503, !response.headers.contains(where: { $0.0.lowercased() == "retry-after" }) { unavailableWithoutRetryAfter += 1 }
            index += 1
            try await Task.sleep(for: .milliseconds(50))
        }
        try await outage?.value
        #expect(Set(statuses.keys).isSubset(of: [202, 503]), "only accepted or unavailable: \(statuses)")
        #expect(statuses[503, default: 0] > 0, "the outage was met: \(statuses)")
        #expect(unavailableWithoutRetryAfter == 0)
        // Both gateways take referrals again, without a restart.
        for gateway in gateways {
            #expect(gateway.process.isRunning)
            try await waitFor("\(gateway.url) to accept again", timeout: 30) {
                (try? await deployment.submit(try example("referral-falls"), to: gateway.url).status) == 202
            }
        }
        for id in acknowledged {
            let report = try await deployment.waitForReport(id, timeout: 60, "delivered", at: gateways[index % 2].url) { report in
                let states = deliveryStates(report)
                return !states.isEmpty && states.values.allSatisfy { $0 == "delivered" }
            }
            #expect(report["id"] as? String == id)
        }
        let verify = try await deployment.run(["audit", "verify", "--config", deployment.configPath])
        #expect(verify.status == 0, "\(verify.output) \(verify.errors)")
    }
}
