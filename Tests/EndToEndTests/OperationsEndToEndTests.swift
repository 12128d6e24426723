import Foundation
import Testing
import Transport

#if canImport(Glibc)
    import Glibc
#endif

/// What an operator does to a running gateway: stop it, back it up, restore it, and use the
/// commands the README names.
@Suite(.serialized) struct OperationsEndToEndTests {
    /// Every `switchboard …` command line the README shows, as its command words.
    static func readmeCommands() throws -> [[String]] {
        let readme = try String(contentsOf: repositoryRoot.appendingPathComponent("README.md"), encoding: .utf8)
        var commands: Set<[String]> = []
        for line in readme.split(separator: "\n") {
            var rest = Substring(line)
            while let range = rest.range(of: "switchboard ") {
                let words = rest[range.upperBound...].split(separator: " ").prefix { word in
                    !word.isEmpty && word.allSatisfy { $0.isLowercase && $0.isLetter }
                }
                // A command word is followed by its own words until an option, an argument or the end.
                if let first = words.first, first.count > 2 { commands.insert(words.prefix(2).map(String.init)) }
                rest = rest[range.upperBound...]
            }
        }
        return commands.sorted { $0.joined(separator: " ") < $1.joined(separator: " ") }
    }

    @Test func everyCommandTheREADMENamesExists() async throws {
        let deployment = try LocalDeployment()
        let commands = try Self.readmeCommands()
        #expect(commands.count > 20, "the README shows the commands: \(commands)")
        for words in commands {
            // `--help` on the first word alone when the second is an argument, not a subcommand.
            let result = try await deployment.run(words + ["--help"])
            let alone = result.status == 0 ? result : try await deployment.run([words[0], "--help"])
            #expect(alone.status == 0, "switchboard \(words.joined(separator: " ")): \(alone.errors)")
            #expect(!alone.output.hasPrefix("OVERVIEW: Routes health and social care referrals"), "'\(words[0])' is not a command of its own")
        }
    }

    @Test func aBackupTakenWhileTheGatewayWorksVerifiesAndRestores() async throws {
        let deployment = try LocalDeployment()
        defer { deployment.stopAll() }
        try await deployment.startAllReceivers()
        try await deployment.startGateway()
        let body = try example("referral-falls")
        var before: [String] = []
        for _ in 0..<10 {
            let (status, answer) = try await deployment.submit(body)
            #expect(status == 202)
            if let id = answer["id"] as? String { before.append(id) }
        }
        // The checkpoints anchored before the copy is taken: every one of them is within the copy.
        // (Those anchored after it name the events written since, as the restore below shows.)
        let anchoredBefore = deployment.checkpointsPath + ".before-backup"
        let anchored = FileManager.default.contents(atPath: deployment.checkpointsPath) ?? Data()
        #expect(FileManager.default.createFile(atPath: anchoredBefore, contents: anchored))
        // Referrals keep arriving while the copy is taken.
        let backupPath = deployment.directory.appendingPathComponent("backup.sqlite").path
        async let during: [Int] = withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<20 { group.addTask { try await deployment.submit(body).status } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let backup = try await deployment.run(["backup", "--config", deployment.configPath, backupPath])
        #expect(try await during.allSatisfy { $0 == 202 })
        #expect(backup.status == 0, "\(backup.errors)")
        #expect(backup.output.contains("the copy's audit chain is intact"), "\(backup.output)")
        let again = try await deployment.run(["backup", "--config", deployment.configPath, backupPath])
        #expect(again.status != 0 && again.errors.contains("already exists"), "a backup is never overwritten")
        let verified = try await deployment.run([
            "audit", "verify", "--config", deployment.configPath, "--storage", "sqlite:\(backupPath)", "--checkpoints", anchoredBefore,
        ])
        #expect(verified.status == 0 && verified.output.contains("Audit chain intact"), "\(verified.output) \(verified.errors)")

        // Work goes on after the backup, and a checkpoint (every second here) anchors it.
        #expect(try await deployment.submit(body).status == 202)
        try await Task.sleep(for: .milliseconds(2_500))
        // Restore as the README says: stop; set the checkpoint file aside; copy the backup over.
        deployment.gateway?.kill(SIGTERM)
        #expect(try await deployment.gateway?.exitStatus() == 0)
        let archived = deployment.checkpointsPath + ".before-restore"
        try FileManager.default.moveItem(atPath: deployment.checkpointsPath, toPath: archived)
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: deployment.databasePath + suffix) }
        try FileManager.default.copyItem(atPath: backupPath, toPath: deployment.databasePath)
        // The old checkpoints show what the restore lost: the events written after the backup.
        let lost = try await deployment.run(["audit", "verify", "--config", deployment.configPath, "--checkpoints", archived])
        #expect(lost.status != 0 && lost.output.contains("are missing") && !lost.output.contains("rewritten"), "\(lost.output) \(lost.errors)")
        // Started again, it works from the copy and anchors a new chain of checkpoints.
        try await deployment.startGateway()
        for id in before {
            let report = try await deployment.report(id)
            #expect(report["id"] as? String == id)
        }
        #expect(try await deployment.submit(body).status == 202)
        try await Task.sleep(for: .milliseconds(1_500))
        let restored = try await deployment.run(["audit", "verify", "--config", deployment.configPath])
        #expect(restored.status == 0 && restored.output.contains("matches every signed checkpoint"), "\(restored.output) \(restored.errors)")
    }

    /// Starts the gateway with its two falls agencies answering after `delay` ms, submits a referral
    /// and sends SIGTERM while its deliveries to them are in flight.
    func stopWithDeliveriesInFlight(
        _ deployment: LocalDeployment, delay: Int
    ) async throws -> (id: String, gateway: RunningProcess, stopped: ContinuousClock.Instant) {
        try await deployment.startReceiver("oxford-falls", delayMilliseconds: delay)
        try await deployment.startReceiver("oxfordshire-spa", delayMilliseconds: delay)
        try await deployment.startGateway()
        let (status, answer) = try await deployment.submit(try example("referral-falls"))
        #expect(status == 202)
        let id = try #require(answer["id"] as? String)
        try await Task.sleep(for: .milliseconds(300))
        let gateway = try #require(deployment.gateway)
        let stopped = ContinuousClock.now
        gateway.kill(SIGTERM)
        return (id, gateway, stopped)
    }

    @Test func sigtermFinishesDeliveriesInFlightWithinItsGraceThenExits() async throws {
        let deployment = try LocalDeployment(server: "shutdown_seconds: 3")
        defer { deployment.stopAll() }
        // Each agency answers after 1 s: the attempts are in flight when SIGTERM comes.
        let (id, gateway, stopped) = try await stopWithDeliveriesInFlight(deployment, delay: 1_000)
        try await gateway.waitForLine("stopping line") { $0.hasPrefix("Switchboard stopping") }
        #expect(try await gateway.exitStatus(timeout: 10) == 0)
        // Its grace is 3 s; the rest allows for a loaded machine (4.07 s was seen in a full run).
        #expect(stopped.duration(to: .now) < .seconds(5.5), "within its grace")
        #expect(gateway.lines.contains("Switchboard stopped"))
        // The attempts in flight finished and were recorded: a restart sends nothing again.
        try await deployment.startGateway()
        let report = try await deployment.report(id)
        #expect(deliveryStates(report) == ["oxford-falls": "delivered", "oxfordshire-spa": "delivered"])
        try await Task.sleep(for: .seconds(1))
        #expect(deployment.deliveries(to: "oxford-falls").count == 1)
        #expect(deployment.deliveries(to: "oxfordshire-spa").count == 1)
    }

    @Test func sigtermAbandonsWhatCannotFinishInItsGraceAndARestartSendsItAgain() async throws {
        let deployment = try LocalDeployment(server: "shutdown_seconds: 1")
        defer { deployment.stopAll() }
        // Slower than the grace (but within the agencies' 5 s timeout).
        let (id, gateway, stopped) = try await stopWithDeliveriesInFlight(deployment, delay: 4_000)
        _ = try await gateway.exitStatus(timeout: 15)
        #expect(stopped.duration(to: .now) < .seconds(3.5), "it did not wait for the agencies")
        // Abandoned, not lost: the next gateway sends each again at once, with the same webhook-id.
        for receiver in deployment.receivers.values { receiver.kill(SIGKILL) }
        deployment.receivers = [:]
        try await deployment.startReceiver("oxford-falls", as: "oxford-falls-after")
        try await deployment.startReceiver("oxfordshire-spa", as: "oxfordshire-spa-after")
        try await deployment.startGateway()
        let report = try await deployment.waitForReport(id, "delivered after the restart") { $0["status"] as? String == "delivered" }
        #expect(deliveryStates(report) == ["oxford-falls": "delivered", "oxfordshire-spa": "delivered"])
    }
}

/// Rotating an agency's signing secret without a moment when both sides must change at once.
@Suite(.serialized) struct SecretRotationEndToEndTests {
    @Test func duringARotationTheAgencyVerifiesWithTheOldSecretAndThenWithTheNew() async throws {
        let deployment = try LocalDeployment(rotating: true)
        defer { deployment.stopAll() }
        try await deployment.startReceiver("oxfordshire-spa")
        // The agency has not switched yet: it still holds the old secret.
        try await deployment.startReceiver("oxford-falls", secretEnv: "OXFORD_FALLS_SECRET_OLD")
        try await deployment.startGateway()
        let body = try example("referral-falls")
        let first = try #require(try await deployment.submit(body).body["id"] as? String)
        _ = try await deployment.waitForReport(first, "delivered") { $0["status"] as? String == "delivered" }
        let before = try #require(deployment.deliveries(to: "oxford-falls").first)
        #expect(before["verified"] as? Bool == true, "verified with the old secret")
        // Now it switches, at its own moment: the same gateway's deliveries verify with the new one.
        deployment.receivers["oxford-falls"]?.kill(SIGKILL)
        try await Task.sleep(for: .milliseconds(200))
        try await deployment.startReceiver("oxford-falls")
        let second = try #require(try await deployment.submit(body).body["id"] as? String)
        _ = try await deployment.waitForReport(second, "delivered") { $0["status"] as? String == "delivered" }
        let after = try #require(deployment.deliveries(to: "oxford-falls").last)
        #expect(after["verified"] as? Bool == true, "verified with the new secret")
    }
}

/// Logs a log shipper can read: JSON lines when not on a terminal, each request's id in every line
/// about it, carried from intake into every delivery attempt of the referral it brought.
@Suite(.serialized) struct StructuredLogEndToEndTests {
    @Test func oneRequestIdFollowsAReferralFromIntakeThroughEveryDeliveryAttempt() async throws {
        let deployment = try LocalDeployment()
        defer { deployment.stopAll() }
        try await deployment.startAllReceivers()
        try await deployment.startGateway(logLevel: "info")
        let response = try await deployment.client.send(
            HTTPRequest(
                url: deployment.gatewayURL + "/v1/referrals", method: "POST",
                headers: [
                    ("Authorization", "Bearer \(deployment.referrerKey)"), ("Content-Type", "application/json"),
                    ("X-Request-Id", "Quintessa-chose-this"),
                ],
                body: Array(try example("referral-falls"))))
        #expect(response.status == 202)
        let requestId = try #require(response.headers.first { $0.name.lowercased() == "x-request-id" }?.value)
        #expect(requestId != "Quintessa-chose-this", "the gateway makes its own ids: nothing a client sends reaches a log that way")
        let id = try #require((try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])?["id"] as? String)
        _ = try await deployment.waitForReport(id, "delivered") { $0["status"] as? String == "delivered" }
        let gateway = try #require(deployment.gateway)
        gateway.kill(SIGTERM)
        _ = try await gateway.exitStatus()
        let lines = gateway.standardError.split(separator: "\n").filter { !$0.isEmpty }
        let objects = lines.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        #expect(!lines.isEmpty && objects.count == lines.count, "every log line is one JSON object: \(lines.prefix(3))")
        #expect(objects.allSatisfy { $0["time"] is String && $0["level"] is String && $0["message"] is String })
        let accepted = objects.filter { $0["message"] as? String == "Referral accepted" && $0["referral"] as? String == id }
        #expect(accepted.count == 1 && accepted.first?["request"] as? String == requestId)
        let attempts = objects.filter { $0["message"] as? String == "Delivery attempt" && $0["referral"] as? String == id }
        #expect(attempts.count == 2, "one attempt to each of its two agencies")
        #expect(attempts.allSatisfy { $0["request"] as? String == requestId })
        #expect(!gateway.standardError.contains("Quintessa"))
    }
}

/// The gateway terminating TLS itself, for deployments without a proxy: a renewed certificate is
/// read on SIGHUP and serves new connections without a restart; a broken one leaves the old.
@Suite(.serialized) struct TLSEndToEndTests {
    /// A CA and a certificate for 127.0.0.1 signed by it, written as NAME-ca.pem, NAME.pem, NAME.key.
    func certificate(_ name: String, in folder: URL, deployment: LocalDeployment) async throws {
        let path = { (file: String) in folder.appendingPathComponent(file).path }
        try "subjectAltName=IP:127.0.0.1\n".write(toFile: path("san.ext"), atomically: true, encoding: .utf8)
        for arguments in [
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=\(name) CA", "-keyout", path("\(name)-ca.key"),
                "-out", path("\(name)-ca.pem"),
            ],
            ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", path("\(name).key"), "-out", path("\(name).csr")],
            [
                "x509", "-req", "-in", path("\(name).csr"), "-CA", path("\(name)-ca.pem"), "-CAkey", path("\(name)-ca.key"), "-CAcreateserial",
                "-days", "2", "-extfile", path("san.ext"), "-out", path("\(name).pem"),
            ],
        ] {
            _ = try await deployment.runTool("/usr/bin/openssl", arguments)
        }
    }

    @Test func itServesHTTPSAndReadsARenewedCertificateOnSIGHUP() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let served = folder.appendingPathComponent("served")
        try FileManager.default.createDirectory(at: served, withIntermediateDirectories: true)
        let deployment = try LocalDeployment(
            server: "tls: { certificate_file: '\(served.path)/server.pem', key_file: '\(served.path)/server.key' }")
        defer { deployment.stopAll() }
        try await certificate("first", in: folder, deployment: deployment)
        try await certificate("second", in: folder, deployment: deployment)
        func serve(_ name: String) throws {
            for (from, to) in [("\(name).pem", "server.pem"), ("\(name).key", "server.key")] {
                try? FileManager.default.removeItem(at: served.appendingPathComponent(to))
                try FileManager.default.copyItem(at: folder.appendingPathComponent(from), to: served.appendingPathComponent(to))
            }
        }
        try serve("first")
        try await deployment.startGateway()
        #expect(deployment.gatewayURL.hasPrefix("https://127.0.0.1:"))
        func ready(trusting ca: String?) async -> Int? {
            let request = HTTPRequest(
                url: deployment.gatewayURL + "/readyz", tls: ca.map { TLSOptions(caFile: folder.appendingPathComponent("\($0)-ca.pem").path) })
            // A new client each time: a new connection, which gets the certificate served now (an open
            // connection keeps the one it began with).
            let client = CurlTransport.started()
            defer { client.shutdown() }
            return try? await client.send(request).status
        }
        #expect(await ready(trusting: "first") == 200)
        #expect(await ready(trusting: nil) == nil, "a certificate the system does not trust is refused")
        let plain = deployment.gatewayURL.replacingOccurrences(of: "https://", with: "http://")
        #expect((try? await deployment.client.send(HTTPRequest(url: plain + "/readyz")).status) != 200, "no plain HTTP")

        // Renewed: the next connection gets the new certificate, without a restart.
        try serve("second")
        deployment.gateway?.kill(SIGHUP)
        var renewed = false
        for _ in 0..<50 where !renewed {
            try await Task.sleep(for: .milliseconds(100))
            renewed = await ready(trusting: "second") == 200
        }
        #expect(renewed)
        #expect(await ready(trusting: "first") == nil)
        // A broken file is refused and the certificate in use stays.
        try "not a certificate".write(to: served.appendingPathComponent("server.pem"), atomically: true, encoding: .utf8)
        deployment.gateway?.kill(SIGHUP)
        try await Task.sleep(for: .milliseconds(500))
        #expect(await ready(trusting: "second") == 200)
        #expect(deployment.gateway?.standardError.contains("could not be read; the one in use stays") == true)
    }
}
