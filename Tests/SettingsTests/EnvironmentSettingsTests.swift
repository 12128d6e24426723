import Foundation
import Settings
import Testing

/// `environment: production | test` in switchboard.yaml: read, defaulting to unset (a test
/// system), and anything else refused at its line with a hint.
@Suite struct EnvironmentSettingsTests {
    func file(_ environment: String?) throws -> String {
        try settingsFile(
            (environment.map { "environment: \($0)\n" } ?? "") + """
                storage: { url: "sqlite:data/switchboard.sqlite" }
                agencies: agencies.yaml
                rules: rules.yaml
                api_keys:
                  - { id: gp, role: referrer, sha256: \(String(repeating: "ab", count: 32)) }
                """)
    }

    @Test func productionAndTestAreReadAndAFileThatSaysNeitherIsNotProduction() throws {
        #expect(try SwitchboardSettings.load(path: try file("production"), environment: [:]).environment == .production)
        #expect(try SwitchboardSettings.load(path: try file("test"), environment: [:]).environment == .test)
        #expect(try SwitchboardSettings.load(path: try file(nil), environment: [:]).environment == nil, "a file from before says neither")
    }

    @Test func anyOtherWordIsRefusedAtItsLineWithAHint() throws {
        let path = try file("live")
        do {
            _ = try SwitchboardSettings.load(path: path, environment: [:])
            Issue.record("environment: live was accepted")
        } catch {
            let issue = try #require(error.issues.first { $0.message.contains("environment") })
            #expect(issue.line == 1 && issue.message == "environment must be production or test, not 'live'")
            #expect(issue.hint?.contains("999") == true)
        }
    }
}
