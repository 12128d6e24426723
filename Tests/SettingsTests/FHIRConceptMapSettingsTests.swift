import BaRS
import Foundation
import ReferralModel
import Settings
import Testing

/// `fhir_in`, the concept map that turns codes in BaRS messages into needs and urgencies.
@Suite struct FHIRConceptMapSettingsTests {
    static let head = """
        storage: { url: "sqlite:s.sqlite" }
        agencies: a.yaml
        rules: r.yaml
        api_keys: []
        """

    @Test func theExampleConfigurationsMapReads() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("config/switchboard.yaml").path
        let settings = try SwitchboardSettings.load(path: path, environment: [:], requireSecrets: false)
        let dos = FHIRCoding(system: "http://fhir.nhs.uk/Id/dos-service-id", code: "111111111")
        #expect(settings.fhirConcepts.need(for: dos, vocabulary: settings.vocabulary) == "mental-health-crisis")
        #expect(settings.fhirConcepts.urgency(for: FHIRCoding(system: "https://fhir.nhs.uk/CodeSystem/arp-priority-code", code: "C1")) == .emergency)
        // A need's SNOMED CT concept is read as that need without an entry.
        #expect(
            settings.fhirConcepts.need(for: FHIRCoding(system: SNOMED.system, code: "390866009"), vocabulary: settings.vocabulary)
                == "mental-health-crisis")
    }

    @Test func aNeedOutsideTheVocabularyAnUnknownUrgencyAndABadSystemAreReportedByLine() throws {
        let path = try settingsFile(
            Self.head + """

                fhir_in:
                  needs:
                    - {system: "http://snomed.info/sct", code: "1", need: juggling}
                    - {system: "snomed", code: "2", need: befriending}
                  urgency:
                    - {system: "urn:x", code: "3", urgency: soon}
                  safeguarding:
                    - {system: "urn:x", kode: "4"}
                """)
        do {
            _ = try SwitchboardSettings.load(path: path, environment: [:])
            Issue.record("loaded")
        } catch {
            let lines = error.issues.map { "\($0.line): \($0.message)" }
            #expect(
                lines == [
                    "7: 'juggling' is not a need in this configuration", "8: system 'snomed' is not a code system URI",
                    "10: 'soon' is not an urgency", "12: unknown key 'kode' in a code", "12: a code is missing 'code'",
                ])
            #expect(error.issues.first?.hint?.contains("befriending") == true)
        }
    }
}

/// `signature: {secret_env}` on a referrer key.
@Suite struct SignedKeySettingsTests {
    @Test func onlyAReferrerKeySignsAndItsSecretMustBeOne() throws {
        let path = try settingsFile(
            FHIRConceptMapSettingsTests.head.replacingOccurrences(of: "api_keys: []", with: "api_keys:") + """

                  - { id: gp, role: referrer, sha256: \(String(repeating: "ab", count: 32)), signature: { secret_env: GP_SIGNING } }
                  - { id: team, role: agency, sha256: \(String(repeating: "cd", count: 32)), signature: { secret_env: TEAM_SIGNING } }
                """)
        let secret = "whsec_c2lnbmluZy1zZWNyZXQtZm9yLXRlc3RzLTAwMQ=="
        do {
            _ = try SwitchboardSettings.load(path: path, environment: ["GP_SIGNING": secret, "TEAM_SIGNING": secret])
            Issue.record("loaded")
        } catch {
            #expect(error.issues.map { "\($0.line): \($0.message)" } == ["6: only a referrer key signs what it sends"])
        }
        let valid = try settingsFile(
            FHIRConceptMapSettingsTests.head.replacingOccurrences(of: "api_keys: []", with: "api_keys:") + """

                  - { id: gp, role: referrer, sha256: \(String(repeating: "ab", count: 32)), signature: { secret_env: GP_SIGNING } }
                """)
        let settings = try SwitchboardSettings.load(path: valid, environment: ["GP_SIGNING": secret])
        #expect(settings.apiKeys.first?.signature == APIKey.Signature(secretEnv: "GP_SIGNING", secret: secret))
        #expect(throws: ConfigError.self) { try SwitchboardSettings.load(path: valid, environment: [:]) }
    }
}
