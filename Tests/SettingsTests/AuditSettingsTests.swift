import Foundation
import Settings
import Testing

/// `audit` in switchboard.yaml: an HMAC key, an Ed25519 note signing key, or both; each refused at
/// its line with a hint when it cannot work.
@Suite struct AuditSettingsTests {
    func file(_ audit: String) throws -> String {
        try settingsFile(
            """
            storage: { url: "sqlite:data/switchboard.sqlite" }
            agencies: agencies.yaml
            rules: rules.yaml
            api_keys:
              - { id: gp, role: referrer, sha256: \(String(repeating: "ab", count: 32)) }
            audit: \(audit)
            """)
    }

    func issues(_ path: String, environment: [String: String] = [:]) -> [ConfigIssue] {
        SwitchboardSettings.read(path: path, environment: environment, requireSecrets: true).issues
    }

    @Test func aSigningKeyFileAloneMakesATransparencyLogAndTheHMACKeyStaysOptional() throws {
        let path = try file("{ checkpoint_file: checkpoints.log, signing_key_file: audit.key }")
        let key = "PRIVATE+KEY+switchboard.test/audit+00000000+AQ=="
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
        try key.write(to: folder.appendingPathComponent("audit.key"), atomically: true, encoding: .utf8)
        let settings = try SwitchboardSettings.load(path: path, environment: [:])
        #expect(settings.auditCheckpoints?.keyEnv == nil)
        #expect(settings.auditCheckpoints?.signingKey == key)
        #expect(settings.auditCheckpoints?.signingKeyFile == folder.appendingPathComponent("audit.key").path)
        // A file written before keeps working: the HMAC key alone.
        let before = try SwitchboardSettings.load(
            path: try file("{ checkpoint_file: checkpoints.log, key_env: AUDIT_KEY }"), environment: ["AUDIT_KEY": String(repeating: "k", count: 32)])
        #expect(before.auditCheckpoints?.key == String(repeating: "k", count: 32) && before.auditCheckpoints?.signingKeyFile == nil)
    }

    @Test func aMissingUnreadableOrWrongKeyIsSaidWithItsLineAndHowToMakeOne() throws {
        let neither = issues(try file("{ checkpoint_file: checkpoints.log }"))
        #expect(neither.contains { $0.line == 6 && $0.message.contains("key_env") && $0.message.contains("signing_key_file") })
        let missing = issues(try file("{ checkpoint_file: checkpoints.log, signing_key_file: nowhere.key }"))
        #expect(missing.contains { $0.message.contains("cannot be read") && $0.hint?.contains("audit signing-key new") == true })
        let path = try file("{ checkpoint_file: checkpoints.log, signing_key_file: wrong.key }")
        try "not a key".write(
            to: URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("wrong.key"), atomically: true, encoding: .utf8)
        #expect(issues(path).contains { $0.message.contains("does not hold an audit signing key") })
    }
}
