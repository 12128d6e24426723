import Foundation
import ReferralModel
import Settings
import SwitchboardTesting
import Testing

@Suite struct AgencyDirectoryTests {
    @Test func anAgencyWithoutASystemUsesThePortalAndNoEndpoint() throws {
        let adapters: Set<String> = ["json-webhook", "portal"]
        let good = """
            agencies:
              - id: charity
                name: A befriending charity
                adapter: portal
                receives: contact-only
            """
        let agencies = try AgencyDirectory.parse(good, file: "agencies.yaml", adapters: adapters)
        #expect(agencies["charity"]?.adapter == "portal")
        #expect(agencies["charity"]?.endpoint == "")
        let bad = """
            agencies:
              - id: charity
                name: A befriending charity
                adapter: portal
                endpoint: https://charity.example.org/referrals
              - id: council
                name: A council
                adapter: json-webhook
            """
        do {
            _ = try AgencyDirectory.parse(bad, file: "agencies.yaml", adapters: adapters)
            Issue.record("expected errors")
        } catch {
            let lines = error.issues.map { "\($0.line): \($0.message) (\($0.hint ?? ""))" }
            #expect(lines.contains { $0.hasPrefix("5: an agency on the portal adapter has no endpoint") }, "\(lines)")
            #expect(lines.contains { $0.hasPrefix("6: an agency is missing 'endpoint'") && $0.contains("adapter: portal") }, "\(lines)")
        }
    }

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

@Suite struct FieldAllowListTests {
    func agency(_ extra: String) throws -> Agency {
        let text = "agencies:\n  - { id: a, name: A, adapter: json-webhook, endpoint: \"http://127.0.0.1:1/\"\(extra) }\n"
        return try #require(try AgencyDirectory.parse(text, file: "agencies.yaml", adapters: ["json-webhook"]).agencies.first)
    }

    @Test func anAgencyReceivesEveryFieldUnlessItsAllowListSaysOtherwise() throws {
        #expect(try agency("").withhold.isEmpty)
        #expect(try agency(", receives: full").withhold.isEmpty)
        let contact = try agency(", receives: contact-only")
        #expect(contact.withhold == [.nhsNumber, .gender, .registeredPractice, .reason, .safeguarding, .externalReference, .expectedDischargeDate])
        #expect(contact.withhold.isDisjoint(with: ReferralField.essential), "the essentials always go")
        #expect(try agency(", receives: care").withhold == [.nhsNumber, .safeguarding, .externalReference])
        let listed = try agency(", receives: [subject/phone, reason], withhold: [reason]")
        #expect(listed.withhold == Set(ReferralField.allCases).subtracting(ReferralField.essential).subtracting([.subjectPhone]))
        #expect(try agency("").receivesAllNeeds == false)
        #expect(try agency(", all_needs: true").receivesAllNeeds)
    }

    @Test func anUnknownPresetOrFieldIsNamedWithAHint() throws {
        do {
            _ = try agency(", receives: everything")
            Issue.record("accepted an unknown preset")
        } catch let error as ConfigError {
            #expect(error.issues.first?.message == "'everything' is not a preset of receives")
            #expect(error.issues.first?.hint == "use one of contact-only, care, clinical, full, or list the fields")
        }
        do {
            _ = try agency(", receives: [subject/shoeSize]")
            Issue.record("accepted an unknown field")
        } catch let error as ConfigError {
            #expect(error.issues.first?.message == "'subject/shoeSize' is not a referral field")
        }
    }
}
