import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The closed loop as its users meet it, with real processes: an agency works through its
/// worklist and answers; a decline sends the referral to the alternative's own system; the audit
/// trail exports to CSV a spreadsheet reads, and deleting its newest events is caught.
@Suite(.serialized) struct ClosedLoopEndToEndTests {
    /// A befriending referral for someone in Oxford: the charity first, the council's front door if it declines.
    func befriendingReferral() throws -> Data {
        let text = String(decoding: try example("referral-carer-out-of-area"), as: UTF8.self)
            .replacingOccurrences(of: "RG1 1AA", with: "OX1 1AA")
            .replacingOccurrences(of: #""needs": ["carers-support", "befriending"]"#, with: #""needs": ["befriending"]"#)
        return Data(text.utf8)
    }

    @Test func anAgencyAcceptsAndCompletesAndADeclineReachesTheAlternative() async throws {
        let deployment = try LocalDeployment()
        defer { deployment.stopAll() }
        try await deployment.startAllReceivers()
        try await deployment.startGateway()
        let spa = try #require(deployment.agencyKeys["oxfordshire-spa"])
        let charity = try #require(deployment.agencyKeys["oxfordshire-befriending"])

        // The council's front door works through its worklist.
        let (_, council) = try await deployment.submit(try councilReferral())
        let councilId = try #require(council["id"] as? String)
        try await deployment.waitForReport(councilId, "delivered") { $0["status"] as? String == "delivered" }
        let (listed, worklist) = try await deployment.call("/v1/agency/referrals?state=delivered", key: spa)
        #expect(listed == 200)
        #expect((worklist["referrals"] as? [[String: Any]])?.compactMap { $0["referralId"] as? String } == [councilId])
        let (viewed, view) = try await deployment.call("/v1/referrals/\(councilId)", key: spa)
        #expect(viewed == 200)
        #expect((view["referral"] as? [String: Any])?["subject"] != nil, "the agency sees the referral as it was sent")
        #expect(try await deployment.call("/v1/referrals/\(councilId)", key: charity).status == 404, "not sent to the charity")
        #expect(
            try await deployment.call("/v1/referrals/\(councilId)/status", key: charity, method: "POST", json: #"{"status": "accepted"}"#).status
                == 403)
        #expect(
            try await deployment.call("/v1/referrals/\(councilId)/status", key: spa, method: "POST", json: #"{"status": "completed"}"#).status == 409)
        #expect(
            try await deployment.call("/v1/referrals/\(councilId)/status", key: spa, method: "POST", json: #"{"status": "accepted"}"#).status == 200)
        #expect(
            try await deployment.call("/v1/referrals/\(councilId)/status", key: spa, method: "POST", json: #"{"status": "completed"}"#).status == 200)
        let status = try await deployment.run(["status", councilId, "--gateway", deployment.gatewayURL, "--api-key", deployment.adminKey])
        #expect(status.output.contains("Referral \(councilId): completed"), "\(status.output)")
        #expect(status.output.contains("referral.accepted") && status.output.contains("answer.refused"))

        // The charity declines; the council's own system receives it next.
        let (_, befriending) = try await deployment.submit(try befriendingReferral())
        let id = try #require(befriending["id"] as? String)
        try await deployment.waitForReport(id, "delivered") { $0["status"] as? String == "delivered" }
        let (declined, answer) = try await deployment.call(
            "/v1/referrals/\(id)/status", key: charity, method: "POST",
            json: #"{"status": "declined", "reason": "no-capacity", "text": "No volunteers in OX1 until March"}"#)
        #expect(declined == 200)
        #expect(answer["reroutedTo"] as? String == "oxfordshire-spa")
        try await deployment.waitForReport(id, "delivered to the alternative") { report in
            (report["deliveries"] as? [[String: Any]] ?? []).contains {
                $0["agency"] as? String == "oxfordshire-spa" && $0["state"] as? String == "delivered"
            }
        }
        let toCouncil = deployment.deliveries(to: "oxfordshire-spa").compactMap {
            (($0["body"] as? [String: Any])?["data"] as? [String: Any])?["referralId"] as? String
        }
        #expect(toCouncil.contains(id), "the alternative's own system received it")
        let report = try await deployment.report(id)
        #expect((report["notes"] as? [[String: Any]])?.first?["text"] as? String == "No volunteers in OX1 until March")

        // The audit trail, exported as CSV, reads back in a spreadsheet's reader.
        deployment.gateway?.kill(SIGTERM)
        _ = try await deployment.gateway?.exitStatus()
        let csv = deployment.directory.appendingPathComponent("audit.csv").path
        let exported = try await deployment.run(["audit", "export", "--config", deployment.configPath, "--format", "csv", "--output", csv])
        #expect(exported.status == 0, "\(exported.errors)")
        let reader = try await deployment.runTool(
            "/usr/bin/env",
            [
                "python3", "-c",
                "import csv,sys; rows=list(csv.DictReader(open(sys.argv[1], newline=''))); print(len(rows)); print(sorted(set(r['kind'] for r in rows)))",
                csv,
            ])
        let lines = reader.split(separator: "\n")
        let count = try #require(Int(lines.first ?? ""))
        #expect(exported.output.contains("Wrote \(count) events"))
        #expect(lines.last?.contains("referral.declined") == true && lines.last?.contains("referral.rerouted") == true)

        // Deleting the newest events from the database is caught by the signed checkpoints.
        let verified = try await deployment.run(["audit", "verify", "--config", deployment.configPath])
        #expect(verified.status == 0, "\(verified.output) \(verified.errors)")
        #expect(verified.output.contains("it matches every signed checkpoint"))
        _ = try await deployment.runTool(
            "/usr/bin/env",
            [
                "python3", "-c",
                "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('DELETE FROM audit_events WHERE seq > (SELECT MAX(seq) - 3 FROM audit_events)'); c.commit()",
                deployment.databasePath,
            ])
        let cut = try await deployment.run(["audit", "verify", "--config", deployment.configPath])
        #expect(cut.status != 0)
        #expect(cut.output.contains("are missing: the checkpoint of"), "\(cut.output)")
    }

    @Test func aCancellationReachesTheAgencysOwnSystem() async throws {
        let deployment = try LocalDeployment()
        defer { deployment.stopAll() }
        try await deployment.startAllReceivers()
        try await deployment.startGateway()
        let (_, council) = try await deployment.submit(try councilReferral())
        let id = try #require(council["id"] as? String)
        try await deployment.waitForReport(id, "delivered") { $0["status"] as? String == "delivered" }
        let (status, cancelled) = try await deployment.call(
            "/v1/referrals/\(id)/cancel", key: deployment.referrerKey, method: "POST", json: #"{"reason": "The person moved to Wales"}"#)
        #expect(status == 200)
        #expect(cancelled["told"] as? [String] == ["oxfordshire-spa"])
        let report = try await deployment.waitForReport(id, "told") { report in
            (report["deliveries"] as? [[String: Any]] ?? []).contains {
                $0["notice"] as? String == "referral.cancelled" && $0["state"] as? String == "delivered"
            }
        }
        #expect(report["status"] as? String == "closed")
        let first = try #require((report["deliveries"] as? [[String: Any]])?.first?["deliveryId"] as? String)
        let notices = deployment.deliveries(to: "oxfordshire-spa").compactMap { $0["body"] as? [String: Any] }.filter {
            $0["type"] as? String == "referral.cancelled"
        }
        #expect(notices.count == 1)
        #expect((notices.first?["data"] as? [String: Any])?["deliveryId"] as? String == first, "it names the delivery the agency received")
        #expect(deployment.deliveries(to: "oxfordshire-spa").last?["verified"] as? Bool == true, "signed like any delivery")
        #expect(
            try await deployment.call("/v1/referrals/\(id)/cancel", key: deployment.referrerKey, method: "POST", json: #"{"reason": "again"}"#).status
                == 409)
    }

    @Test func theReferrersOwnSystemIsToldOfEachAnswerSigned() async throws {
        let deployment = try LocalDeployment(referrerCallback: true)
        defer { deployment.stopAll() }
        try await deployment.startAllReceivers()
        try await deployment.startReceiver(
            "oxfordshire-spa", port: deployment.callbackPort, as: "referrer-system", secretEnv: "E2E_CALLBACK_SECRET")
        try await deployment.startGateway()
        let (_, council) = try await deployment.submit(try councilReferral())
        let id = try #require(council["id"] as? String)
        try await deployment.waitForReport(id, "delivered") { $0["status"] as? String == "delivered" }
        let spa = try #require(deployment.agencyKeys["oxfordshire-spa"])
        #expect(try await deployment.call("/v1/referrals/\(id)/status", key: spa, method: "POST", json: #"{"status": "accepted"}"#).status == 200)
        try await deployment.waitForReport(id, "told the referrer") { report in
            (report["deliveries"] as? [[String: Any]] ?? []).contains {
                $0["agency"] as? String == "callback:e2e-gp" && $0["state"] as? String == "delivered"
            }
        }
        let callback = try #require(deployment.deliveries(to: "referrer-system").first)
        #expect(callback["verified"] as? Bool == true, "signed with the referrer's own secret")
        let body = try #require(callback["body"] as? [String: Any])
        #expect(body["type"] as? String == "referral.accepted")
        #expect((body["data"] as? [String: Any])?["agency"] as? String == "oxfordshire-spa")
        #expect((body["data"] as? [String: Any])?["referralId"] as? String == id)
    }
}
