import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Personal data encrypted at rest, as an operator runs it: a gateway with `storage.encryption`,
/// its key rotated while referrals arrive, the gateway restarted with the new key, a backup taken.
@Suite(.serialized) struct EncryptionEndToEndTests {
    static let name = "Zephyrine-Oddbody"
    static let nhsNumber = "9997654323"

    static func referral() throws -> Data {
        var object = try #require(try JSONSerialization.jsonObject(with: example("referral-falls")) as? [String: Any])
        var subject = try #require(object["subject"] as? [String: Any])
        subject["familyName"] = name
        subject["nhsNumber"] = nhsNumber
        object["subject"] = subject
        return try JSONSerialization.data(withJSONObject: object)
    }

    /// Whether the file holds the name or the NHS number in plaintext.
    static func holdsPersonalData(_ path: String) -> Bool {
        guard let bytes = FileManager.default.contents(atPath: path) else { return false }
        return bytes.range(of: Data(name.utf8)) != nil || bytes.range(of: Data(nhsNumber.utf8)) != nil
    }

    @Test func aKeyRotatedUnderLoadLosesNothingAndNoFileEverHoldsThePersonInPlaintext() async throws {
        let deployment = try LocalDeployment(encrypted: true)
        defer { deployment.stopAll() }
        try await deployment.startAllReceivers()
        try await deployment.startGateway()
        let newKey = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        let body = try Self.referral()

        // Four referrers submit while the key is rotated.
        let load = Task {
            try await withThrowingTaskGroup(of: [String].self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        var ids: [String] = []
                        for _ in 0..<40 {
                            let (status, answer) = try await deployment.submit(body)
                            #expect(status == 202)
                            if let id = answer["id"] as? String { ids.append(id) }
                        }
                        return ids
                    }
                }
                return try await group.reduce(into: [String]()) { $0 += $1 }
            }
        }
        try await Task.sleep(for: .milliseconds(300))
        let rotated = try await deployment.run(
            ["storage", "rotate-key", "--config", deployment.configPath, "--new-key-env", "E2E_STORAGE_KEY_NEW"],
            extraEnvironment: ["E2E_STORAGE_KEY_NEW": newKey])
        #expect(rotated.status == 0, "\(rotated.errors)")
        #expect(rotated.output.contains("Re-wrapped 2 data keys"), "\(rotated.output)")
        let ids = try await load.value
        #expect(ids.count == 160)
        for id in ids { try await deployment.waitForReport(id, "delivered") { $0["status"] as? String == "delivered" } }
        // What the agencies were sent is the referral, opened again after the rotation.
        let sent = deployment.deliveries(to: "oxford-falls")
        let naming = Set(
            sent.filter { String(decoding: (try? JSONSerialization.data(withJSONObject: $0)) ?? Data(), as: UTF8.self).contains(Self.name) }
                .compactMap { $0["webhookId"] as? String })
        #expect(naming.count == 160, "each delivery names the person: \(sent.count) received")
        #expect(!Self.holdsPersonalData(deployment.databasePath) && !Self.holdsPersonalData(deployment.databasePath + "-wal"))

        // Restarted with the old key, the gateway says so and stops; with the new one it reads everything.
        deployment.gateway?.kill(SIGTERM)
        _ = try await deployment.gateway?.exitStatus()
        let refused = try await deployment.run(["serve", "--config", deployment.configPath])
        #expect(refused.status != 0)
        #expect(refused.errors.contains("not the key given"), "\(refused.errors)")
        deployment.environment["E2E_STORAGE_KEY"] = newKey
        try await deployment.startGateway()
        #expect(try await deployment.report(ids[0])["status"] as? String == "delivered")
        let verified = try await deployment.run(["audit", "verify", "--config", deployment.configPath])
        #expect(verified.status == 0, "\(verified.errors)")

        // A backup is encrypted too, and opens with the key.
        let backup = deployment.directory.appendingPathComponent("backup.sqlite").path
        let copied = try await deployment.run(["backup", "--config", deployment.configPath, backup])
        #expect(copied.status == 0, "\(copied.errors)")
        #expect(!Self.holdsPersonalData(backup))

        // A subject access request, answered from the encrypted store by the person's NHS number.
        let disclosure = deployment.directory.appendingPathComponent("sar.json").path
        let client = ["--gateway", deployment.gatewayURL, "--api-key", deployment.governanceKey]
        let found = try await deployment.run(
            ["records", "find", "--nhs-number", "999 765 4323", "--reason", "SAR-2026-7", "--output", disclosure] + client)
        #expect(found.status == 0, "\(found.errors)")
        #expect(found.output.hasPrefix("160 referrals found"), "\(found.output)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: disclosure))) as? [String: Any])
        let referrals = document["referrals"] as? [[String: Any]] ?? []
        #expect(referrals.count == 160)
        #expect(((referrals.first?["referral"] as? [String: Any])?["subject"] as? [String: Any])?["familyName"] as? String == Self.name)
        let noReason = try await deployment.run(["records", "find", "--nhs-number", "9997654323"] + client)
        #expect(noReason.status != 0)
        #expect(noReason.errors.contains("--reason is required"), "\(noReason.errors)")

        // One referral's details corrected: found by the new name, and the agencies told.
        let rectified = try await deployment.run(
            ["records", "rectify", ids[1], "--subject", #"{"familyName": "Oddbody"}"#, "--reason", "RECT-2026-1"] + client)
        #expect(rectified.status == 0 && rectified.output.contains("corrected /subject/familyName"), "\(rectified.output) \(rectified.errors)")
        #expect(rectified.output.contains("the update goes to"), "\(rectified.output)")

        // One referral erased: not found again, and the audit chain still verifies.
        let erased = try await deployment.run(["records", "erase", ids[0], "--reason", "ERASE-2026-1"] + client)
        #expect(erased.status == 0 && erased.output.contains("personal data erased"), "\(erased.output) \(erased.errors)")
        let after = try await deployment.run(["records", "find", "--nhs-number", "9997654323", "--reason", "SAR-2026-7"] + client)
        #expect(after.output.hasPrefix("159 referrals found"), "\(after.output)")
        #expect(try await deployment.run(["audit", "verify", "--config", deployment.configPath]).status == 0)
    }
}
