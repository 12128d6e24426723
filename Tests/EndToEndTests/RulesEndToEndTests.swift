import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The example rules with falls referrals also sent to the safeguarding hub.
func rulesSendingFallsToTheHubToo(_ text: String) -> String {
    text.replacingOccurrences(of: "    route_to: oxford-falls\n", with: "    route_to: [oxford-falls, oxfordshire-mash]\n")
}

/// Administrators changing the rules of a running gateway, as they would: through the CLI and
/// the admin API, or by editing the file, while referrals keep arriving.
@Suite(.serialized) struct RulesEndToEndTests {
    @Test func rulesAppliedWhileReferralsFlowRouteEachReferralByExactlyOneVersion() async throws {
        let deployment = try LocalDeployment()
        defer { deployment.stopAll() }
        try await deployment.startAllReceivers()
        try await deployment.startGateway()
        let (_, live) = try await deployment.admin("/v1/rules")
        let before = try #require(live["version"] as? String)
        let proposed = deployment.directory.appendingPathComponent("proposed-rules.yaml").path
        try rulesSendingFallsToTheHubToo(try #require(live["text"] as? String)).write(toFile: proposed, atomically: true, encoding: .utf8)

        // Referrals arrive one after another, before, during and after the apply.
        var receipts: [(id: String, version: String, agencies: [String])] = []
        func submitOne() async throws {
            let (status, body) = try await deployment.submit(try example("referral-falls"))
            #expect(status == 202)
            let routes = (body["routes"] as? [[String: Any]] ?? []).compactMap { $0["agency"] as? String }
            receipts.append((body["id"] as? String ?? "", body["rulesVersion"] as? String ?? "", routes))
        }
        for _ in 0..<15 { try await submitOne() }
        // Before it goes live: what the change would have done to the referrals received so far.
        let impact = try await deployment.run(
            ["rules", "impact", proposed, "--since", "1d", "--gateway", deployment.gatewayURL, "--api-key", deployment.adminKey])
        #expect(impact.status == 0, "\(impact.errors)")
        #expect(impact.output.contains("Replayed 15 referrals received "), "\(impact.output)")
        #expect(impact.output.contains(": 15 would be routed differently."))
        let firstFive = receipts.map(\.id).sorted().prefix(5).joined(separator: ", ")
        #expect(impact.output.contains("  oxfordshire-mash: 0 → 15; gains 15 (\(firstFive))"), "\(impact.output)")
        #expect(!impact.output.contains("oxford-falls:"), "falls keeps every referral")
        let apply = try RunningProcess(
            ["rules", "apply", proposed, "--gateway", deployment.gatewayURL, "--api-key", deployment.adminKey], environment: deployment.environment,
            name: "rules apply")
        // At least one referral goes in as the apply starts, and more while it runs: on a loaded
        // machine the command can finish before a loop that first asks whether it is running.
        repeat {
            try await submitOne()
        } while apply.isRunning
        #expect(try await apply.exitStatus() == 0, "\(apply.standardError)")
        let applied = apply.lines.joined(separator: "\n")
        #expect(applied.contains("Rules version 2 (sha256:"), "\(applied)")
        #expect(applied.contains("changed: falls-oxfordshire"))
        for _ in 0..<15 { try await submitOne() }

        let (_, now) = try await deployment.admin("/v1/rules")
        let after = try #require(now["version"] as? String)
        #expect(after != before)
        // Each referral names one version, and was routed exactly as that version says.
        for receipt in receipts {
            #expect([before, after].contains(receipt.version))
            let expected = receipt.version == before ? ["oxford-falls", "oxfordshire-spa"] : ["oxford-falls", "oxfordshire-mash", "oxfordshire-spa"]
            #expect(receipt.agencies == expected, "\(receipt.version)")
        }
        // Referrals came one after another, so the versions change once, at the swap.
        let versions = receipts.map(\.version)
        #expect(versions.prefix(15).allSatisfy { $0 == before })
        #expect(versions.suffix(15).allSatisfy { $0 == after })
        #expect(versions == versions.sorted { $0 == before && $1 == after }, "no referral went back to the old version")

        // The agencies received exactly what each version routed to them.
        let toHub = receipts.filter { $0.version == after }.count
        for receipt in receipts {
            try await deployment.waitForReport(receipt.id, "delivered") { $0["status"] as? String == "delivered" }
        }
        // At least once: a delivery may arrive twice under load, always with the same webhook-id.
        func distinct(_ agency: String) -> Int { Set(deployment.deliveries(to: agency).compactMap { $0["webhookId"] as? String }).count }
        #expect(distinct("oxfordshire-mash") == toHub)
        #expect(distinct("oxford-falls") == receipts.count)
        // The referral's own audit record names the version that routed it.
        let last = try await deployment.report(try #require(receipts.last?.id))
        let routed = (last["history"] as? [[String: Any]] ?? []).first { $0["event"] as? String == "referral.routed" }
        #expect((routed?["detail"] as? String)?.contains("rules version \(after)") == true)

        // The change is in the history, and survives the gateway being killed and restarted.
        let history = try await deployment.run(["rules", "history", "--gateway", deployment.gatewayURL, "--api-key", deployment.adminKey])
        #expect(history.output.contains("* 2  \(after)"))
        #expect(history.output.contains("e2e-admin (api)"))
        let shown = try await deployment.run(["rules", "show", "2", "--diff", "--gateway", deployment.gatewayURL, "--api-key", deployment.adminKey])
        #expect(shown.output.contains("by e2e-admin (api): changed: falls-oxfordshire"), "\(shown.output)")
        #expect(shown.output.contains("-    route_to: oxford-falls\n+    route_to: [oxford-falls, oxfordshire-mash]"))
        deployment.gateway?.kill(SIGKILL)
        _ = try await deployment.gateway?.exitStatus()
        try await deployment.startGateway()
        let (_, restarted) = try await deployment.admin("/v1/rules")
        #expect(restarted["version"] as? String == after)
        #expect(restarted["number"] as? Int == 2, "the same rules after a restart are not a new version")
        let verify = try await deployment.run(["audit", "verify", "--config", deployment.configPath])
        #expect(verify.status == 0, "\(verify.output) \(verify.errors)")
    }

    @Test func aBrokenRulesFileLeavesTheLiveRulesAndAFixedOneIsTakenOnSave() async throws {
        let deployment = try LocalDeployment(watchSeconds: 0.25)
        defer { deployment.stopAll() }
        try await deployment.startAllReceivers()
        try await deployment.startGateway()
        let (_, live) = try await deployment.admin("/v1/rules")
        let before = try #require(live["version"] as? String)
        let good = try String(contentsOfFile: deployment.rulesPath, encoding: .utf8)

        // An administrator saves a file with a mistake in it.
        try good.replacingOccurrences(of: "route_to: oxford-falls\n", with: "route_to: oxford-fals\n").write(
            toFile: deployment.rulesPath, atomically: true, encoding: .utf8)
        let line =
            try #require(good.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains("route_to: oxford-falls") }) + 1
        // The rejection and its reason may reach the log a moment apart: wait for both.
        try await waitFor("the rejection in the log") {
            deployment.gateway?.standardError.contains("Rules file rejected") == true
                && deployment.gateway?.standardError.contains("rules.yaml:\(line):15: error: unknown agency 'oxford-fals'") == true
        }
        #expect(deployment.gateway?.standardError.contains("rules.yaml:\(line):15: error: unknown agency 'oxford-fals'") == true)
        // SIGHUP reads it again, and refuses it again.
        deployment.gateway?.kill(SIGHUP)
        try await waitFor("a second rejection, on SIGHUP") {
            // The log is JSON lines (standard error is not a terminal here).
            deployment.gateway?.standardError.components(separatedBy: #""trigger":"SIGHUP""#).count == 2
        }
        let (_, still) = try await deployment.admin("/v1/rules")
        #expect(still["version"] as? String == before, "a bad file never replaces good rules")
        let (status, receipt) = try await deployment.submit(try example("referral-falls"))
        #expect(status == 202)
        #expect(receipt["rulesVersion"] as? String == before)
        #expect((receipt["routes"] as? [[String: Any]])?.first?["agency"] as? String == "oxford-falls")

        // Saving the corrected file puts it live without a signal.
        try rulesSendingFallsToTheHubToo(good).write(toFile: deployment.rulesPath, atomically: true, encoding: .utf8)
        var current: [String: Any] = [:]
        try await waitFor("the corrected rules to go live") {
            current = (try? await deployment.admin("/v1/rules").body) ?? [:]
            return current["version"] as? String != before
        }
        #expect(current["source"] as? String == "reload")
        #expect(current["appliedBy"] as? String == "rules-file")
        let (_, next) = try await deployment.submit(try example("referral-falls"))
        #expect(
            (next["routes"] as? [[String: Any]])?.compactMap { $0["agency"] as? String } == ["oxford-falls", "oxfordshire-mash", "oxfordshire-spa"])

        // The refusals and the reload are in the audit trail, which is intact.
        let verify = try await deployment.run(["audit", "verify", "--config", deployment.configPath])
        #expect(verify.status == 0)
        let rollback = try await deployment.run(["rules", "rollback", "1", "--gateway", deployment.gatewayURL, "--api-key", deployment.adminKey])
        #expect(rollback.status == 0, "\(rollback.errors)")
        #expect(rollback.output.contains("Rules version 3 (\(before)) is live"))
        #expect(try String(contentsOfFile: deployment.rulesPath, encoding: .utf8) == good, "a rollback writes the file too")
    }
}

/// Polls `condition` until it holds, for at most `timeout` seconds.
func waitFor(_ what: String, timeout: Double = 15, _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(timeout)
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw TimedOut(description: "no \(what) within \(timeout) s")
}

/// Agencies changed on a running gateway, as an administrator would: validated offline, applied
/// through the command line, and used by the next delivery.
@Suite(.serialized) struct AgenciesEndToEndTests {
    @Test func anAgencyMovedThroughTheCommandLineGetsTheNextDeliveryAtItsNewEndpoint() async throws {
        let deployment = try LocalDeployment()
        defer { deployment.stopAll() }
        try await deployment.startAllReceivers()
        let newPort = freePort()
        try await deployment.startReceiver("oxfordshire-spa", port: newPort, as: "spa-new-system")
        try await deployment.startGateway()
        let agenciesPath = deployment.directory.appendingPathComponent("agencies.yaml").path
        let agencies = try String(contentsOfFile: agenciesPath, encoding: .utf8)
        let old = "http://127.0.0.1:\(deployment.ports["oxfordshire-spa"]!)/referrals"
        let moved = agencies.replacingOccurrences(of: old, with: "http://127.0.0.1:\(newPort)/referrals")
        #expect(moved != agencies)
        let file = deployment.directory.appendingPathComponent("moved-agencies.yaml").path
        try moved.write(toFile: file, atomically: true, encoding: .utf8)

        let validated = try await deployment.run(["agencies", "validate", file, "--config", deployment.configPath])
        #expect(validated.status == 0, "\(validated.errors)")
        #expect(validated.output.contains("valid; 6 agencies"))
        let applied = try await deployment.run(["agencies", "apply", file, "--gateway", deployment.gatewayURL, "--api-key", deployment.adminKey])
        #expect(applied.status == 0, "\(applied.errors)")
        #expect(applied.output.contains("Agencies version 2 (sha256:"), "\(applied.output)")
        #expect(try String(contentsOfFile: agenciesPath, encoding: .utf8) == moved, "the file is what is live")

        let (status, receipt) = try await deployment.submit(try councilReferral())
        #expect(status == 202)
        let id = try #require(receipt["id"] as? String)
        try await deployment.waitForReport(id, "delivered") { $0["status"] as? String == "delivered" }
        #expect(deployment.deliveries(to: "spa-new-system").count == 1, "the next delivery went to the new endpoint")
        #expect(deployment.deliveries(to: "oxfordshire-spa").isEmpty)

        // Removing an agency the rules route to is refused, naming the rule's line.
        let removed = moved.components(separatedBy: "  - id: oxford-falls")[0]
        try removed.write(toFile: file, atomically: true, encoding: .utf8)
        let refused = try await deployment.run(["agencies", "apply", file, "--gateway", deployment.gatewayURL, "--api-key", deployment.adminKey])
        #expect(refused.status != 0)
        #expect(refused.errors.contains("rules.yaml:"), "\(refused.errors)")
        let history = try await deployment.run(["agencies", "history", "--gateway", deployment.gatewayURL, "--api-key", deployment.adminKey])
        #expect(history.output.contains("* 2  "), "\(history.output)")
    }
}
