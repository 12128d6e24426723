import Foundation
import ReferralModel
import Settings
import SwitchboardTesting
import Testing

@Suite struct AgencyDirectoryTests {
    @Test func readsAgenciesWithTheirRetryPolicies() throws {
        let agencies = try directory()
        #expect(agencies.agencies.map(\.id) == ["spa", "falls", "mash"])
        #expect(agencies["falls"]?.retry == Agency.Retry(maxAttempts: 3, initialBackoff: 0.5, maxBackoff: 10))
        #expect(agencies["mash"]?.secretEnv == "MASH_SECRET")
    }

    @Test func reportsEveryProblem() {
        let text = """
            agencies:
              - id: Bad_Id
                name: X
                adapter: carrier-pigeon
                endpoint: ftp://example.org
                secret_env: whsec_abc
                retries: 3
              - name: Missing id
                adapter: json-webhook
                endpoint: http://127.0.0.1:1/
            """
        do {
            _ = try AgencyDirectory.parse(text, file: "agencies.yaml", adapters: ["json-webhook"])
            Issue.record("expected errors")
        } catch {
            let lines = error.issues.map { "\($0.line): \($0.message)" }
            #expect(lines.contains("2: agency id 'Bad_Id' must be lower-case letters, digits and hyphens"), "\(lines)")
            #expect(lines.contains("4: unknown adapter 'carrier-pigeon'"), "\(lines)")
            #expect(lines.contains("5: endpoint 'ftp://example.org' is not an http or https URL"), "\(lines)")
            #expect(lines.contains { $0.hasPrefix("6: secret_env must name an environment variable") }, "\(lines)")
            #expect(lines.contains("7: unknown key 'retries' in an agency"), "\(lines)")
            #expect(lines.contains("8: an agency is missing 'id'"), "\(lines)")
        }
    }
}
