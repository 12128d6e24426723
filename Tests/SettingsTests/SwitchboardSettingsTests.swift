import Foundation
import ReferralModel
import Settings
import Testing

/// Writes `text` as a switchboard.yaml in a new temporary folder and returns its path.
func settingsFile(_ text: String) throws -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-settings-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let path = directory.appendingPathComponent("switchboard.yaml").path
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

@Suite struct SwitchboardSettingsTests {
    @Test func aMinimalFileGetsTheDocumentedDefaults() throws {
        let path = try settingsFile(
            """
            storage: { url: "sqlite:data/switchboard.sqlite" }
            agencies: agencies.yaml
            rules: /etc/switchboard/rules.yaml
            api_keys:
              - { id: gp, role: referrer, sha256: \(String(repeating: "ab", count: 32)) }
            """)
        let settings = try SwitchboardSettings.load(path: path, environment: [:])
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
        #expect(settings.server == .init())
        #expect(settings.server.port == 8080)
        #expect(settings.storage == .sqlite(path: folder.appendingPathComponent("data/switchboard.sqlite").path))
        #expect(settings.agenciesPath == folder.appendingPathComponent("agencies.yaml").path)
        #expect(settings.rulesPath == "/etc/switchboard/rules.yaml")
        #expect(settings.vocabulary == .standard)
        #expect(settings.apiKeys == [APIKey(id: "gp", role: .referrer, digest: Array(repeating: 0xAB, count: 32))])
        #expect(settings.delivery.concurrency == 64)
        #expect(settings.rateLimit.requestsPerSecond == 200)
        #expect(settings.rulesWatchSeconds == 2)
    }

    @Test func keysComeFromTheEnvironmentAsDigests() throws {
        let path = try settingsFile(
            """
            storage: { url: "sqlite:s.sqlite" }
            agencies: a.yaml
            rules: r.yaml
            api_keys:
              - { id: admin, role: admin, key_env: ADMIN_KEY }
            """)
        let key = "a-long-random-admin-key-0123456789"
        let settings = try SwitchboardSettings.load(path: path, environment: ["ADMIN_KEY": key])
        #expect(settings.apiKeys.first?.digest == APIKey.digest(of: key))
        // A command that only reads the configuration does without the key.
        #expect(try SwitchboardSettings.load(path: path, environment: [:], requireSecrets: false).apiKeys.isEmpty)
    }

    @Test func everyProblemIsReportedWithItsLineAndAHint() throws {
        let path = try settingsFile(
            """
            server: { host: 127.0.0.1, prot: 8080 }
            storage: { url: "postgres://db/switchboard" }
            agencies: agencies.yaml
            rules: rules.yaml
            needs: [falls, Falls]
            api_keys:
              - { id: gp, role: doctor, key_env: GP_KEY }
              - { id: gp, role: referrer, sha256: abc }
            delivery: { concurrency: 0 }
            """)
        do {
            _ = try SwitchboardSettings.load(path: path, environment: [:])
            Issue.record("expected problems")
        } catch {
            let lines = error.issues.map { "\($0.line): \($0.message)" }
            #expect(lines.contains("1: unknown key 'prot' in server"), "\(lines)")
            #expect(error.issues.first { $0.message.contains("prot") }?.hint == "did you mean 'port'?")
            #expect(lines.contains("2: storage url 'postgres://db/switchboard' is not supported"), "\(lines)")
            #expect(lines.contains("5: need code 'Falls' must be lower-case letters, digits and hyphens"), "\(lines)")
            #expect(lines.contains("7: role must be referrer, agency or admin"), "\(lines)")
            #expect(lines.contains("7: environment variable GP_KEY is not set"), "\(lines)")
            #expect(lines.contains("8: API key id 'gp' is used twice"), "\(lines)")
            #expect(lines.contains("8: sha256 must be 64 hexadecimal characters"), "\(lines)")
            #expect(lines.contains("9: concurrency must be between 1 and 1024, not 0"), "\(lines)")
            #expect(error.issues.allSatisfy { $0.file == path })
        }
    }

    @Test func howLongARequestWaitsForADatabaseConnectionIsSetInTheStorageSection() throws {
        func storage(_ extra: String) throws -> StorageLocation {
            let path = try settingsFile(
                """
                storage: { url: "postgres://switchboard@db.internal:5432/switchboard"\(extra) }
                agencies: agencies.yaml
                rules: rules.yaml
                api_keys: []
                """)
            return try SwitchboardSettings.load(path: path, environment: [:]).storage
        }
        guard case .postgres(let defaults) = try storage("") else {
            Issue.record("not PostgreSQL")
            return
        }
        #expect(defaults.connectTimeoutSeconds == 0.6)
        guard case .postgres(let set) = try storage(", connect_timeout_seconds: 2.5") else {
            Issue.record("not PostgreSQL")
            return
        }
        #expect(set.connectTimeoutSeconds == 2.5)
        let error = try #require(throws: ConfigError.self) { try storage(", connect_timeout_seconds: 0") }
        #expect(error.issues.contains { $0.line == 1 && $0.message.contains("connect_timeout_seconds") }, "\(error.issues)")
    }

    @Test func theStorageAloneIsFoundWithoutKeysOrOtherFiles() throws {
        let path = try settingsFile("storage:\n  url: sqlite:../var/s.sqlite\napi_keys: []\n")
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
        #expect(
            try StorageLocation.configured(configPath: path, override: nil)
                == .sqlite(path: folder.appendingPathComponent("../var/s.sqlite").path))
        #expect(throws: ConfigError.self) { try StorageLocation.configured(configPath: path, override: "mysql://x") }
    }
}

@Suite struct NeedsVocabularyTests {
    @Test func needsRequireConsentExceptSafeguardingUnlessTheFileSaysOtherwise() throws {
        let path = try settingsFile(
            """
            storage: { url: "sqlite:s.sqlite" }
            agencies: a.yaml
            rules: r.yaml
            api_keys: []
            needs:
              - befriending
              - safeguarding-adult
              - { code: domestic-abuse, consent_required: false }
              - { code: safeguarding-child, consent_required: true }
            """)
        let vocabulary = try SwitchboardSettings.load(path: path, environment: [:]).vocabulary
        #expect(vocabulary.codes == ["befriending", "safeguarding-adult", "domestic-abuse", "safeguarding-child"])
        #expect(vocabulary.consentExempt == ["safeguarding-adult", "domestic-abuse"])
        #expect(NeedsVocabulary.standard.consentExempt == ["safeguarding-adult", "safeguarding-child"])
    }

    @Test func aNeedCarriesTheSNOMEDConceptItIsSentAs() throws {
        let path = try settingsFile(
            """
            storage: { url: "sqlite:s.sqlite" }
            agencies: a.yaml
            rules: r.yaml
            api_keys: []
            needs:
              - code: adult-social-care
                snomed: { code: "306238000", display: Referral to social services }
              - code: safeguarding-adult
                snomed: { code: 514331000000104, display: Referral to safeguarding adults team }
              - befriending
            """)
        let vocabulary = try SwitchboardSettings.load(path: path, environment: [:]).vocabulary
        #expect(
            vocabulary.codings == [
                "adult-social-care": .snomed("306238000", "Referral to social services"),
                "safeguarding-adult": .snomed("514331000000104", "Referral to safeguarding adults team"),
            ])
        #expect(vocabulary.consentExempt == ["safeguarding-adult"], "a mapping keeps the safeguarding default")
    }

    @Test func aMistypedSNOMEDCodeIsRefusedAtItsLine() throws {
        // 306238000 with one digit changed fails the Verhoeff check; 306238100 is a description's
        // id (partition 01), not a concept's.
        let path = try settingsFile(
            """
            storage: { url: "sqlite:s.sqlite" }
            agencies: a.yaml
            rules: r.yaml
            api_keys: []
            needs:
              - { code: adult-social-care, snomed: { code: "306238001", display: Referral to social services } }
              - { code: reablement, snomed: { code: "306238011", display: Something } }
              - { code: befriending, snomed: { code: "12ab", display: Something } }
            """)
        do {
            _ = try SwitchboardSettings.load(path: path, environment: [:])
            Issue.record("a mistyped code was accepted")
        } catch {
            #expect(
                error.issues.map { "\($0.line): \($0.message)" } == [
                    "6: '306238001' fails the SNOMED CT check digit: look for a mistyped or missing digit",
                    "7: '306238011' is a SNOMED CT identifier, but not of a concept (its partition is 01)",
                    "8: '12ab' is not a SNOMED CT identifier: 6 to 18 digits, not starting with 0",
                ])
            #expect(error.issues.allSatisfy { $0.hint?.contains("termbrowser.nhs.uk") == true })
        }
    }

    @Test func aBadNeedEntryNamesItsLine() throws {
        let path = try settingsFile(
            "storage: { url: \"sqlite:s.sqlite\" }\nagencies: a.yaml\nrules: r.yaml\napi_keys: []\nneeds:\n  - { code: befriending, consent: no }\n")
        #expect(throws: ConfigError.self) { try SwitchboardSettings.load(path: path, environment: [:]) }
        do {
            _ = try SwitchboardSettings.load(path: path, environment: [:])
        } catch {
            #expect(error.issues.map { "\($0.line): \($0.message)" } == ["6: unknown key 'consent' in a need"])
        }
    }
}

@Suite struct VerifiedReferrerSettingsTests {
    @Test func aReferrerKeyNamesTheOrganisationsItMaySubmitFor() throws {
        let digest = String(repeating: "ab", count: 32)
        let path = try settingsFile(
            """
            storage: { url: "sqlite:s.sqlite" }
            agencies: a.yaml
            rules: r.yaml
            api_keys:
              - { id: practice, role: referrer, sha256: \(digest), organisations: [A81001, B81002] }
              - { id: anyone, role: referrer, sha256: \(digest) }
            """)
        let keys = try SwitchboardSettings.load(path: path, environment: [:]).apiKeys
        #expect(keys.map(\.organisations) == [["A81001", "B81002"], nil])
    }

    @Test func organisationsAreODSCodesOnAReferrerKey() throws {
        let digest = String(repeating: "ab", count: 32)
        let path = try settingsFile(
            """
            storage: { url: "sqlite:s.sqlite" }
            agencies: a.yaml
            rules: r.yaml
            api_keys:
              - { id: practice, role: referrer, sha256: \(digest), organisations: [a81001] }
              - { id: admin, role: admin, sha256: \(digest), organisations: [RTH] }
            """)
        do {
            _ = try SwitchboardSettings.load(path: path, environment: [:])
            Issue.record("expected problems")
        } catch {
            #expect(
                error.issues.map { "\($0.line): \($0.message)" } == [
                    "5: 'a81001' is not an organisation code", "6: only a referrer key names organisations",
                ])
        }
    }
}
