import Foundation
import Testing

/// The audit log as a transparency log, checked from outside as an agency would: the signed
/// checkpoint, inclusion proofs of its referral's events and a consistency proof between two
/// checkpoints, each verified by an independent implementation (Tests/Fixtures/tlog/verify_tlog.py,
/// written from RFC 9162 and C2SP with Python's `cryptography`); then the log tampered with.
@Suite struct TransparencyEndToEndTests {
    static let verifierScript = repositoryRoot.appendingPathComponent("Tests/Fixtures/tlog/verify_tlog.py").path

    func check(_ deployment: LocalDeployment, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await deployment.runToolStatus("/usr/bin/env", ["python3", Self.verifierScript] + arguments)
    }

    /// The newest checkpoint once it covers every event of `referral` the agency can see now.
    func checkpoint(_ deployment: LocalDeployment, covering referral: String, key: String, after size: Int = 0) async throws -> (
        note: String, proofs: String
    ) {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let note = try await deployment.fetch("/v1/audit/checkpoint", key: key)
            let treeSize = Int(note.body.split(separator: "\n").dropFirst().first ?? "") ?? 0
            let proofs = try await deployment.fetch("/v1/audit/proof?referral=\(referral)&size=\(treeSize)", key: key)
            let document = (try? JSONSerialization.jsonObject(with: Data(proofs.body.utf8))) as? [String: Any]
            if note.status == 200, treeSize > size, (document?["laterEvents"] as? Int) == 0, (document?["events"] as? [Any])?.isEmpty == false {
                return (note.body, proofs.body)
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw TimedOut(description: "no checkpoint covered referral \(referral)'s events within 30 s")
    }

    @Test func anAgencyChecksItsReferralsEventsAndThatTheLogOnlyGrowsThenTamperingIsCaught() async throws {
        let deployment = try LocalDeployment(transparency: true)
        defer { deployment.stopAll() }
        let keyFile = deployment.directory.appendingPathComponent("audit-signing.key").path
        let made = try await deployment.run(["audit", "signing-key", "new", keyFile, "--origin", "switchboard.e2e.test/audit"])
        #expect(made.status == 0, "\(made.errors)")
        let verifierKey = try await deployment.run(["audit", "verifier-key", "--config", deployment.configPath]).output
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(verifierKey.hasPrefix("switchboard.e2e.test/audit+"))
        #expect(made.output.contains(verifierKey), "the key's maker prints the same verifier key")
        try await deployment.startAllReceivers()
        try await deployment.startGateway()

        // The council's front door: its referral's events, proven against a checkpoint it keeps.
        let spaKey = try #require(deployment.agencyKeys["oxfordshire-spa"])
        let (_, first) = try await deployment.submit(try councilReferral())
        let id = try #require(first["id"] as? String)
        try await deployment.waitForReport(id, "delivered") { $0["status"] as? String == "delivered" }
        let (kept, proofs) = try await checkpoint(deployment, covering: id, key: spaKey)
        let keptPath = deployment.directory.appendingPathComponent("kept.note").path
        let proofsPath = deployment.directory.appendingPathComponent("proofs.json").path
        try kept.write(toFile: keptPath, atomically: true, encoding: .utf8)
        try proofs.write(toFile: proofsPath, atomically: true, encoding: .utf8)
        let signed = try await check(deployment, ["checkpoint", verifierKey, keptPath])
        #expect(signed.status == 0, "\(signed.output)")
        let included = try await check(deployment, ["inclusion", verifierKey, proofsPath, keptPath])
        #expect(included.status == 0 && included.output.contains("of referral \(id) are in the log"), "\(included.output)")
        // Another agency's key is not given the proofs of a referral it never had.
        let befriending = try #require(deployment.agencyKeys["oxfordshire-befriending"])
        #expect(try await deployment.fetch("/v1/audit/proof?referral=\(id)", key: befriending).status == 404)

        // Later, after more referrals: the log extends the checkpoint kept.
        let keptSize = Int(kept.split(separator: "\n")[1]) ?? 0
        let (_, second) = try await deployment.submit(try councilReferral())
        let secondId = try #require(second["id"] as? String)
        _ = try await checkpoint(deployment, covering: secondId, key: spaKey, after: keptSize)
        let consistency = try await deployment.fetch("/v1/audit/proof?old_size=\(keptSize)", key: spaKey)
        #expect(consistency.status == 200)
        let consistencyPath = deployment.directory.appendingPathComponent("consistency.json").path
        try consistency.body.write(toFile: consistencyPath, atomically: true, encoding: .utf8)
        let extended = try await check(deployment, ["consistency", verifierKey, keptPath, consistencyPath])
        #expect(extended.status == 0 && extended.output.contains("extends the kept checkpoint of \(keptSize)"), "\(extended.output)")

        // The command line gives the same proofs, and checks the kept checkpoint against the events.
        let proved = try await deployment.run(["audit", "prove", id, "--checkpoint", keptPath, "--config", deployment.configPath])
        #expect(proved.status == 0, "\(proved.errors)")
        try proved.output.write(toFile: proofsPath, atomically: true, encoding: .utf8)
        #expect(try await check(deployment, ["inclusion", verifierKey, proofsPath, keptPath]).status == 0)
        let verified = try await deployment.run(["audit", "verify", "--checkpoint", keptPath, "--config", deployment.configPath])
        #expect(verified.status == 0 && verified.output.contains("Checkpoint \(keptPath) verifies"), "\(verified.output) \(verified.errors)")
        #expect(verified.output.contains("it matches every signed checkpoint"))

        // Someone with the database edits one of the referral's events: its proof no longer
        // verifies against the checkpoint the agency kept, and `audit verify` fails.
        deployment.gateway?.kill(SIGKILL)
        _ = try await deployment.runTool(
            "/usr/bin/env",
            [
                "python3", "-c",
                "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"UPDATE audit_events SET detail = 'nothing happened' WHERE seq = (SELECT MIN(seq) FROM audit_events WHERE referral_id = ?)\", (sys.argv[2],)); c.commit()",
                deployment.databasePath, id,
            ])
        let tampered = try await deployment.run(["audit", "prove", id, "--checkpoint", keptPath, "--config", deployment.configPath])
        try tampered.output.write(toFile: proofsPath, atomically: true, encoding: .utf8)
        let caught = try await check(deployment, ["inclusion", verifierKey, proofsPath, keptPath])
        #expect(caught.status != 0 && caught.output.contains("FAILED"), "\(caught.output)")
        let broken = try await deployment.run(["audit", "verify", "--checkpoint", keptPath, "--config", deployment.configPath])
        #expect(broken.status != 0)
        #expect(broken.output.contains("that this log is not: an event among them was edited"), "\(broken.output)")
        // Deleting the newest events: the kept checkpoint records more than the log now holds.
        _ = try await deployment.runTool(
            "/usr/bin/env",
            [
                "python3", "-c",
                "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('DELETE FROM audit_events WHERE seq > ?', (int(sys.argv[2]) - 2,)); c.commit()",
                deployment.databasePath, String(keptSize),
            ])
        let cut = try await deployment.run(["audit", "verify", "--checkpoint", keptPath, "--config", deployment.configPath])
        #expect(cut.status != 0 && cut.output.contains("events it recorded were removed"), "\(cut.output)")
    }
}
