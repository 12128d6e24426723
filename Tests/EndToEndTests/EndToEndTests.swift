import Foundation
import GRDB
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The whole product as a user meets it: real processes, a real SQLite file, real HTTP over
/// libcurl to real receivers standing in for agencies.
@Suite(.serialized) struct EndToEndTests {
    @Test func aSubmittedReferralReachesEveryAgencySignedAndVerified() async throws {
        let deployment = try LocalDeployment()
        defer { deployment.stopAll() }
        try await deployment.startAllReceivers()
        try await deployment.startGateway()

        let file = repositoryRoot.appendingPathComponent("config/examples/referral-falls.json").path
        let submitted = try await deployment.run(
            ["submit", file, "--gateway", deployment.gatewayURL], extraEnvironment: ["SWITCHBOARD_API_KEY": deployment.referrerKey])
        #expect(submitted.status == 0, "\(submitted.errors)")
        let firstLine = try #require(submitted.output.split(separator: "\n").first)
        #expect(firstLine.hasPrefix("Referral ") && firstLine.contains(" accepted"))
        let id = String(firstLine.dropFirst("Referral ".count).prefix(36))
        #expect(submitted.output.contains("-> oxford-falls  by rule falls-oxfordshire"))
        #expect(submitted.output.contains("-> oxfordshire-spa  by rule social-care-oxfordshire"))

        let report = try await deployment.waitForReport(id, "delivered") { $0["status"] as? String == "delivered" }
        #expect(deliveryStates(report) == ["oxford-falls": "delivered", "oxfordshire-spa": "delivered"])

        for agency in ["oxford-falls", "oxfordshire-spa"] {
            let received = deployment.deliveries(to: agency)
            #expect(received.count == 1)
            let delivery = try #require(received.first)
            #expect(delivery["verified"] as? Bool == true, "the agency's receiver verified the Standard Webhooks signature")
            let envelope = try #require(delivery["body"] as? [String: Any])
            let data = try #require(envelope["data"] as? [String: Any])
            #expect(data["referralId"] as? String == id)
            #expect(delivery["webhookId"] as? String == data["deliveryId"] as? String)
            let referral = try #require(data["referral"] as? [String: Any])
            let subject = try #require(referral["subject"] as? [String: Any])
            #expect(subject["nhsNumber"] as? String == "9990000018")
        }
        #expect(deployment.deliveries(to: "oxfordshire-mash").isEmpty, "only the routed agencies receive it")

        let status = try await deployment.run(
            ["status", id, "--gateway", deployment.gatewayURL, "--api-key", deployment.referrerKey])
        #expect(status.status == 0)
        #expect(status.output.contains("Referral \(id): delivered"))
        #expect(status.output.contains("oxford-falls: delivered after 1 attempt"))
        #expect(status.output.contains("delivery.delivered [oxfordshire-spa]"))
    }

    @Test func anAgencySeesOnlyWhatItsAgreementAllowsAndTheAuditSaysWhatWasSent() async throws {
        let deployment = try LocalDeployment()
        defer { deployment.stopAll() }
        try await deployment.startAllReceivers()
        try await deployment.startGateway()
        let (status, body) = try await deployment.submit(try example("referral-awkward-text"))
        #expect(status == 202)
        let id = try #require(body["id"] as? String)
        let report = try await deployment.waitForReport(id, "delivered") { $0["status"] as? String == "delivered" }
        #expect(Set(deliveryStates(report).keys) == ["oxfordshire-mash", "oxford-mh-crisis", "oxfordshire-befriending"])

        let delivery = try #require(deployment.deliveries(to: "oxfordshire-befriending").first)
        let referral = try #require(((delivery["body"] as? [String: Any])?["data"] as? [String: Any])?["referral"] as? [String: Any])
        let subject = try #require(referral["subject"] as? [String: Any])
        #expect(subject["nhsNumber"] == nil, "withheld from this agency")
        #expect(referral["reason"] as? String == "[withheld under this agency's data-sharing agreement]")
        #expect(subject["familyName"] as? String == "Nguyễn <b>O'Neill</b>", "escaped in transit and intact on arrival")

        // The same referral reaches the safeguarding hub whole.
        let mash = try #require(deployment.deliveries(to: "oxfordshire-mash").first)
        let whole = try #require(((mash["body"] as? [String: Any])?["data"] as? [String: Any])?["referral"] as? [String: Any])
        #expect((whole["subject"] as? [String: Any])?["nhsNumber"] as? String == "9990000026")

        let history = report["history"] as? [[String: Any]] ?? []
        let sent = try #require(
            history.first { $0["event"] as? String == "delivery.attempted" && $0["agency"] as? String == "oxfordshire-befriending" }?["detail"]
                as? String)
        #expect(sent.contains("fields sent: "))
        #expect(!sent.contains("subject/nhsNumber") && !sent.contains("reason"))
        #expect(sent.contains("subject/familyName"))
        #expect(!sent.contains("O'Neill"), "the audit names fields, never their values")
        let mashSent = try #require(
            history.first { $0["event"] as? String == "delivery.attempted" && $0["agency"] as? String == "oxfordshire-mash" }?["detail"] as? String)
        #expect(mashSent.contains("subject/nhsNumber") && mashSent.contains("reason"))
    }

    @Test func eachExampleAgencyGetsItsOwnFormat() async throws {
        let deployment = try LocalDeployment(exampleAgencies: true)
        defer { deployment.stopAll() }
        try await deployment.startAllReceivers()
        try await deployment.startGateway()
        var ids: [String] = []
        for name in ["referral-falls", "referral-crisis"] {
            let (status, body) = try await deployment.submit(try example(name))
            #expect(status == 202)
            ids.append(try #require(body["id"] as? String))
        }
        for id in ids { try await deployment.waitForReport(id, "delivered") { $0["status"] as? String == "delivered" } }

        // The crisis team's trust speaks FHIR R4.
        let fhir = try #require(deployment.deliveries(to: "oxford-mh-crisis").first)
        #expect(fhir["verified"] as? Bool == true)
        let bundle = try #require(fhir["body"] as? [String: Any])
        #expect(bundle["resourceType"] as? String == "Bundle")
        #expect(bundle["type"] as? String == "message")
        let kinds = (bundle["entry"] as? [[String: Any]] ?? []).compactMap { ($0["resource"] as? [String: Any])?["resourceType"] as? String }
        #expect(kinds.first == "MessageHeader" && kinds.contains("ServiceRequest") && kinds.contains("Patient"))

        // The council's case system takes its own JSON, the falls service XML.
        let council = try #require(deployment.deliveries(to: "oxfordshire-spa").first?["body"] as? [String: Any])
        #expect((council["person"] as? [String: Any])?["surname"] as? String == "Testperson")
        // Minimum necessary: the council's rule routes for reablement, so the falls need goes only to
        // the falls service.
        #expect(council["presentingNeeds"] as? [String] == ["reablement"])
        let xml = try #require(deployment.deliveries(to: "oxford-falls").first?["body"] as? String)
        #expect(xml.hasPrefix("<?xml") && xml.contains("<Surname>Testperson</Surname>"))
        #expect(deployment.deliveries(to: "oxford-falls").first?["verified"] as? Bool == true)
    }

    @Test func anAgencyThatIsDownGetsTheReferralOnceItComesUp() async throws {
        let deployment = try LocalDeployment()
        defer { deployment.stopAll() }
        try await deployment.startGateway()
        // A routine referral waits for its agency; an emergency would rightly go on to the next
        // candidate once the agency's circuit opens, which a slow machine can reach before the
        // receiver is up.
        let routine = String(decoding: try example("referral-crisis"), as: UTF8.self)
            .replacingOccurrences(of: #""urgency": "emergency""#, with: #""urgency": "routine""#)
        let (status, body) = try await deployment.submit(Data(routine.utf8))
        #expect(status == 202)
        let id = try #require(body["id"] as? String)

        let failing = try await deployment.waitForReport(id, "retried twice") { report in
            let delivery = (report["deliveries"] as? [[String: Any]])?.first
            return (delivery?["attempts"] as? Int ?? 0) >= 2
        }
        let delivery = try #require((failing["deliveries"] as? [[String: Any]])?.first)
        #expect(delivery["state"] as? String == "pending")
        #expect((delivery["lastError"] as? String)?.hasPrefix("transport:") == true)
        #expect(delivery["nextAttemptAt"] != nil)

        try await deployment.startReceiver("oxford-mh-crisis")
        // If the agency's circuit opened before the receiver was up, the probe after its 30 s rest delivers it.
        let delivered = try await deployment.waitForReport(id, timeout: 60, "delivered") { $0["status"] as? String == "delivered" }
        let history = (delivered["history"] as? [[String: Any]] ?? []).compactMap { $0["event"] as? String }
        #expect(history.filter { $0 == "delivery.attempted" }.count >= 3)
        #expect(history.last == "delivery.delivered")
        #expect(deployment.deliveries(to: "oxford-mh-crisis").count == 1)
    }

    @Test func aPermanentRefusalIsDeadLetteredAtOnce() async throws {
        let deployment = try LocalDeployment()
        defer { deployment.stopAll() }
        try await deployment.startReceiver("oxfordshire-spa", status: 422)
        try await deployment.startGateway()
        // Housing support in Oxford goes to the council's front door, which refuses it.
        let (status, body) = try await deployment.submit(try councilReferral())
        #expect(status == 202)
        let id = try #require(body["id"] as? String)
        let report = try await deployment.waitForReport(id, "dead-lettered") { $0["status"] as? String == "needs-attention" }
        let delivery = try #require((report["deliveries"] as? [[String: Any]])?.first)
        #expect(delivery["state"] as? String == "dead-lettered")
        #expect(delivery["attempts"] as? Int == 1)
        #expect(delivery["rule"] as? String == "social-care-oxfordshire")
        #expect((delivery["lastError"] as? String)?.contains("HTTP 422") == true)
    }

    @Test func runningOutOfAttemptsDeadLetters() async throws {
        let deployment = try LocalDeployment(maxAttempts: 3)
        defer { deployment.stopAll() }
        try await deployment.startReceiver("oxford-mh-crisis", status: 503)
        try await deployment.startGateway()
        let (_, body) = try await deployment.submit(try example("referral-crisis"))
        let id = try #require(body["id"] as? String)
        let report = try await deployment.waitForReport(id, "dead-lettered") { $0["status"] as? String == "needs-attention" }
        let delivery = try #require((report["deliveries"] as? [[String: Any]])?.first)
        #expect(delivery["attempts"] as? Int == 3)
        #expect((delivery["lastError"] as? String)?.contains("gave up after 3 attempts") == true)
        #expect(deployment.deliveries(to: "oxford-mh-crisis").count == 3)
        #expect(
            Set(deployment.deliveries(to: "oxford-mh-crisis").compactMap { $0["webhookId"] as? String }).count == 1,
            "every retry carries the same delivery id")
    }

    @Test func nothingAcknowledgedIsLostWhenTheGatewayIsKilled() async throws {
        let deployment = try LocalDeployment()
        defer { deployment.stopAll() }
        try await deployment.startGateway()
        // Routine: the agencies are down until the restart, so their circuits open, and an urgent
        // referral would rightly move on to one that can act (StoppedLaneTests) rather than wait here.
        let body = Data(
            String(decoding: try example("referral-falls"), as: UTF8.self)
                .replacingOccurrences(of: #""urgency": "urgent""#, with: #""urgency": "routine""#).utf8)
        var ids: [String] = []
        try await withThrowingTaskGroup(of: String?.self) { group in
            for _ in 0..<25 {
                group.addTask {
                    let (status, answer) = try await deployment.submit(body)
                    return status == 202 ? answer["id"] as? String : nil
                }
            }
            for try await id in group { if let id { ids.append(id) } }
        }
        #expect(ids.count == 25)
        // Kill it outright the moment the last 202 arrives: no shutdown, no flush.
        deployment.gateway?.kill(SIGKILL)
        _ = try await deployment.gateway?.exitStatus()

        try await deployment.startAllReceivers()
        try await deployment.startGateway()
        for id in ids {
            try await deployment.waitForReport(id, "delivered after the restart", until: { $0["status"] as? String == "delivered" })
        }
        let falls = Set(
            deployment.deliveries(to: "oxford-falls").compactMap { ($0["body"] as? [String: Any])?["data"] as? [String: Any] }.compactMap {
                $0["referralId"] as? String
            })
        #expect(falls == Set(ids))
    }

    @Test func auditVerifyNamesAnEventEditedBehindTheGatewaysBack() async throws {
        let deployment = try LocalDeployment()
        defer { deployment.stopAll() }
        try await deployment.startAllReceivers()
        try await deployment.startGateway()
        let (_, body) = try await deployment.submit(try example("referral-safeguarding"))
        let id = try #require(body["id"] as? String)
        try await deployment.waitForReport(id, "delivered") { $0["status"] as? String == "delivered" }
        deployment.gateway?.kill(SIGTERM)
        #expect(try await deployment.gateway?.exitStatus() == 0, "SIGTERM shuts down gracefully")

        let intact = try await deployment.run(["audit", "verify", "--config", deployment.configPath])
        #expect(intact.status == 0, "\(intact.errors)")
        #expect(intact.output.hasPrefix("Audit chain intact: "))

        let database = try DatabaseQueue(path: deployment.databasePath)
        try await database.write { db in
            try db.execute(sql: "UPDATE audit_events SET detail = 'rules version x; to nowhere' WHERE seq = 3")
        }
        let broken = try await deployment.run([
            "audit", "verify", "--config", deployment.configPath, "--storage", "sqlite:" + deployment.databasePath,
        ])
        #expect(broken.status != 0)
        #expect(broken.output.contains("BROKEN at event 3"))
    }

    @Test func aBadConfigurationStopsServeWithFileLineAndHint() async throws {
        let deployment = try LocalDeployment()
        let rules = deployment.directory.appendingPathComponent("rules.yaml")
        try "rules:\n  - id: one\n    when: { needs: falls-prevention }\n    route_to: the-moon\nfallback: oxfordshire-spa\n"
            .write(to: rules, atomically: true, encoding: .utf8)
        let result = try await deployment.run(["serve", "--config", deployment.configPath])
        #expect(result.status == 78)
        #expect(result.errors.contains("rules.yaml:4:15: error: unknown agency 'the-moon'"), "\(result.errors)")
        #expect(result.errors.contains("hint: agencies.yaml defines:"))
        #expect(!FileManager.default.fileExists(atPath: deployment.databasePath), "a gateway that did not start touched nothing")
    }

    @Test func administratorsValidateAndDryRunRules() async throws {
        let deployment = try LocalDeployment()
        let valid = try await deployment.run(["rules", "validate", "--config", deployment.configPath])
        #expect(valid.status == 0, "\(valid.errors)")
        #expect(valid.output.contains("valid; 6 rules, fallback oxfordshire-spa"))

        let broken = deployment.directory.appendingPathComponent("broken.yaml")
        try "rules:\n  - id: x\n    when: { needz: reablement }\n    route_to: nowhere\nfallback: oxfordshire-spa\n"
            .write(to: broken, atomically: true, encoding: .utf8)
        let invalid = try await deployment.run(["rules", "validate", "--config", deployment.configPath, broken.path])
        #expect(invalid.status != 0)
        #expect(invalid.errors.contains("broken.yaml:3:13: error: unknown key 'needz' in a condition"), "\(invalid.errors)")
        #expect(invalid.errors.contains("hint: did you mean 'needs'?"))
        #expect(invalid.errors.contains("broken.yaml:4:15: error: unknown agency 'nowhere'"))

        let file = repositoryRoot.appendingPathComponent("config/examples/referral-falls.json").path
        let dryRun = try await deployment.run(["rules", "test", "--config", deployment.configPath, "--at", "2026-12-25T18:30:00Z", file])
        #expect(dryRun.status == 0, "\(dryRun.errors)")
        #expect(dryRun.output.contains("ok falls-oxfordshire: matched -> oxford-falls"))
        #expect(dryRun.output.contains("x  mental-health-crisis: needs falls-prevention, reablement include none of mental-health-crisis"))
        #expect(!FileManager.default.fileExists(atPath: deployment.databasePath), "a dry run stores nothing")
    }

    @Test func theCLIExplainsBadInputAndChangesNothing() async throws {
        let deployment = try LocalDeployment()
        defer { deployment.stopAll() }
        try await deployment.startGateway()
        let bad = deployment.directory.appendingPathComponent("bad.json")
        try
            #"{"referrer":{"organisation":"K84001","name":"Dr X"},"subject":{"givenName":"A","familyName":"B","birthDate":"1950-01-01","postcode":"OX1 2JD","nhsNumber":"999 000 0019"},"needs":["falls-prevention"],"urgency":"routine","reason":"r","consent":{"status":"given"},"extra":1}"#
            .write(to: bad, atomically: true, encoding: .utf8)
        let result = try await deployment.run(["submit", bad.path, "--gateway", deployment.gatewayURL, "--api-key", deployment.referrerKey])
        #expect(result.status == 1)
        #expect(result.errors.contains("The referral is not valid (HTTP 422)"))
        #expect(result.errors.contains("/subject/nhsNumber: is not a valid NHS number"))
        #expect(result.errors.contains("/extra: is not a field of this object"))

        let noKey = try await deployment.run(["submit", bad.path, "--gateway", deployment.gatewayURL], extraEnvironment: ["SWITCHBOARD_API_KEY": ""])
        #expect(noKey.status != 0)
        #expect(noKey.errors.contains("No API key: pass --api-key or set SWITCHBOARD_API_KEY."))

        let unreachable = try await deployment.run(["submit", bad.path, "--gateway", "http://127.0.0.1:\(freePort())", "--api-key", "x"])
        #expect(unreachable.status == 1)
        #expect(unreachable.errors.contains("Could not reach the gateway"))

        let database = try DatabaseQueue(path: deployment.databasePath)
        #expect(try await database.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM referrals") } == 0)
    }
}
