import Foundation
import Settings
import Testing

/// `storage.encryption` and `retention` in switchboard.yaml: read, and refused at their line with a hint.
@Suite struct StoragePrivacySettingsTests {
    func file(storage: String = "", top: String = "") throws -> String {
        try settingsFile(
            """
            storage: { url: "sqlite:data/switchboard.sqlite"\(storage) }
            agencies: agencies.yaml
            rules: rules.yaml
            api_keys:
              - { id: gp, role: referrer, sha256: \(String(repeating: "ab", count: 32)) }
            \(top)
            """)
    }

    func issues(_ path: String, environment: [String: String] = [:], requireSecrets: Bool = false) -> [ConfigIssue] {
        SwitchboardSettings.read(path: path, environment: environment, requireSecrets: requireSecrets).issues
    }

    @Test func anEncryptionKeyIsNamedNeverWrittenAndItsAbsenceIsSaidAtStart() throws {
        let key = Data(repeating: 7, count: 32).base64EncodedString()
        let byEnvironment = try file(storage: ", encryption: { key_env: STORAGE_KEY }")
        let settings = try SwitchboardSettings.load(path: byEnvironment, environment: ["STORAGE_KEY": key])
        #expect(settings.storageEncryption == StorageEncryption(source: .environment("STORAGE_KEY")))
        #expect(try settings.storageEncryption?.key(environment: ["STORAGE_KEY": key]) == Array(repeating: 7, count: 32))
        // Serving needs the key itself: unset, or not 32 bytes, is said with its line.
        let unset = issues(byEnvironment, requireSecrets: true)
        #expect(unset.contains { $0.line == 1 && $0.message.contains("STORAGE_KEY is not set") })
        let short = issues(byEnvironment, environment: ["STORAGE_KEY": "c2hvcnQ="], requireSecrets: true)
        #expect(short.contains { $0.message.contains("does not hold 32 bytes") && $0.hint?.contains("storage new-key") == true })
        #expect(issues(try file(storage: ", encryption: { key_env: A, key_file: b.key }")).contains { $0.message.contains("exactly one") })
        #expect(
            issues(try file(storage: ", encryption: { key_file: ../../etc/storage.key }")).contains {
                $0.message.contains("outside the configuration folder")
            })
    }

    @Test func retentionRunsItselfWhenScheduledAndReplacesRetentionDays() throws {
        let scheduled = try SwitchboardSettings.load(
            path: try file(top: "retention: { closed_after_days: 2920, run_at: \"03:15\", accepted_after_days: 365 }"), environment: [:])
        #expect(scheduled.retention == RetentionSchedule(closedAfterDays: 2920, runAt: (3, 15), acceptedAfterDays: 365))
        #expect(scheduled.retentionDays == 2920)
        #expect(try SwitchboardSettings.load(path: try file(), environment: [:]).retention == nil, "a file from before runs it by hand")
        let badTime = issues(try file(top: "retention: { closed_after_days: 2920, run_at: \"25:00\" }"))
        #expect(badTime.contains { $0.line == 6 && $0.message.contains("not a time of day") && $0.hint?.contains("HH:MM") == true })
        let both = issues(try file(top: "retention_days: 3000\nretention: { closed_after_days: 2920 }"))
        #expect(both.contains { $0.message.contains("retention_days and retention") })
    }

    @Test func staffSignInNamesTheProviderAndEachRoleAndRefusesWhatCannotWork() throws {
        let oidc = """
            console:
              oidc:
                issuer: https://login.example.nhs.uk/
                client_id: switchboard
                client_secret_env: OIDC_SECRET
                roles: { Switchboard.Admin: admin, Falls.Staff: "agency:oxford-falls" }
            """
        let settings = try SwitchboardSettings.load(path: try file(top: oidc), environment: ["OIDC_SECRET": "s3cret"])
        let signIn = try #require(settings.staffSignIn)
        #expect(signIn.issuer == "https://login.example.nhs.uk" && signIn.clientSecret == "s3cret" && signIn.roleClaim == "roles")
        #expect(signIn.roles == ["Switchboard.Admin": StaffRole(role: .admin), "Falls.Staff": StaffRole(role: .agency, agency: "oxford-falls")])
        #expect(issues(try file(top: oidc), requireSecrets: true).contains { $0.message.contains("OIDC_SECRET is not set") })
        let plain = issues(try file(top: oidc.replacingOccurrences(of: "https://login.example.nhs.uk/", with: "http://login.example.nhs.uk")))
        #expect(plain.contains { $0.message.contains("is not an https URL") })
        let referrer = issues(try file(top: oidc.replacingOccurrences(of: "Switchboard.Admin: admin", with: "GP: referrer")))
        #expect(referrer.contains { $0.message.contains("'GP' to 'referrer', which is not a console role") && $0.hint?.contains("agency:") == true })
    }
}
