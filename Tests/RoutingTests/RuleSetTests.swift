import Foundation
import ReferralModel
import Routing
import Settings
import SwitchboardTesting
import Testing

func rules(_ text: String) throws -> RuleSet {
    try RuleSet.parse(text, file: "rules.yaml", agencies: directory(), vocabulary: .standard)
}

func problems(_ text: String) -> [ConfigIssue] {
    do {
        _ = try rules(text)
        return []
    } catch let error as ConfigError {
        return error.issues
    } catch {
        Issue.record("unexpected \(error)")
        return []
    }
}

func referral(needs: [String], postcode: String = "OX1 2JD", urgency: Urgency = .routine, safeguarding: Bool? = nil) -> Referral {
    Referral(
        referrer: .init(organisation: "A81001", name: "Dr Test"),
        subject: .init(givenName: "Test", familyName: "Person", birthDate: "1950-01-01", postcode: postcode),
        needs: needs, urgency: urgency, reason: "test", consent: .init(status: .given), safeguarding: safeguarding)
}

@Suite struct RuleSetTests {
    let sample = """
        rules:
          - id: safeguarding
            when:
              any:
                - safeguarding: true
                - needs: safeguarding-adult
            route_to: mash
          - id: falls-oxford
            when:
              needs: falls-prevention
              postcode: [OX1, OX2]
            route_to: [falls, spa]
          - id: care
            when:
              needs: [adult-social-care, falls-prevention]
            route_to: spa
        fallback: spa
        """

    @Test func fansOutToEveryMatchingRuleEachAgencyOnce() throws {
        let decision = try rules(sample).route(referral(needs: ["falls-prevention"], postcode: "OX1 2JD"))
        #expect(decision.targets.map(\.agency.rawValue) == ["falls", "spa"])
        #expect(decision.targets.map(\.rule) == ["falls-oxford", "falls-oxford"])
        #expect(decision.matchedRules == ["falls-oxford", "care"])
        #expect(!decision.usedFallback)
    }

    @Test func postcodePrefixesMatchWholeParts() throws {
        let set = try rules(sample)
        #expect(set.route(referral(needs: ["falls-prevention"], postcode: "OX2 6GG")).targets.map(\.agency.rawValue) == ["falls", "spa"])
        // OX10 starts with the characters "OX1" but is another district.
        #expect(set.route(referral(needs: ["falls-prevention"], postcode: "OX10 7AA")).targets.map(\.agency.rawValue) == ["spa"])
    }

    @Test func fallbackCatchesWhatNothingMatches() throws {
        let decision = try rules(sample).route(referral(needs: ["befriending"]))
        #expect(decision.targets.map(\.agency.rawValue) == ["spa"])
        #expect(decision.targets.first?.rule == RuleSet.fallbackRuleId)
        #expect(decision.usedFallback)
    }

    @Test func stopEndsTheSearch() throws {
        let set = try rules(
            """
            rules:
              - id: first
                when: { needs: reablement }
                route_to: falls
                stop: true
              - id: second
                when: { always: true }
                route_to: spa
            fallback: spa
            """)
        #expect(set.route(referral(needs: ["reablement"])).targets.map(\.agency.rawValue) == ["falls"])
        #expect(set.route(referral(needs: ["befriending"])).targets.map(\.agency.rawValue) == ["spa"])
    }

    @Test func notAndUrgencyCombine() throws {
        let set = try rules(
            """
            rules:
              - id: non-urgent-outside-oxford
                when:
                  urgency: [routine, urgent]
                  not: { postcode: OX }
                route_to: falls
            fallback: spa
            """)
        #expect(set.route(referral(needs: ["reablement"], postcode: "RG1 1AA")).targets.map(\.agency.rawValue) == ["falls"])
        #expect(set.route(referral(needs: ["reablement"], postcode: "OX1 1AA")).targets.map(\.agency.rawValue) == ["spa"])
        #expect(set.route(referral(needs: ["reablement"], postcode: "RG1 1AA", urgency: .emergency)).targets.map(\.agency.rawValue) == ["spa"])
    }

    @Test func theVersionFollowsTheText() throws {
        let one = try rules(sample)
        let same = try rules(sample)
        let other = try rules(sample + "\n# a comment\n")
        #expect(one.version == same.version)
        #expect(one.version != other.version)
        #expect(one.version.hasPrefix("sha256:"))
    }

    @Test func reportsEveryProblemWithItsLineAndAHint() {
        let found = problems(
            """
            rules:
              - id: one
                when:
                  needz: falls-prevention
                route_to: nowhere
              - id: one
                when: { needs: juggling, urgency: soon }
                route_to: spa
            fallback: missing
            """)
        let lines = found.map { "\($0.line): \($0.message)" }
        #expect(lines.contains("4: unknown key 'needz' in a condition"), "\(lines)")
        #expect(found.first { $0.message.contains("needz") }?.hint == "did you mean 'needs'?")
        #expect(lines.contains("5: unknown agency 'nowhere'"), "\(lines)")
        #expect(lines.contains("6: rule id 'one' is used twice"), "\(lines)")
        #expect(lines.contains { $0.hasPrefix("7: unknown need 'juggling'") }, "\(lines)")
        #expect(lines.contains("7: urgency must be routine, urgent or emergency"), "\(lines)")
        #expect(lines.contains("9: unknown agency 'missing'"), "\(lines)")
        #expect(found.allSatisfy { $0.file == "rules.yaml" })
        #expect(found.first?.description.hasPrefix("rules.yaml:4:") == true)
    }

    @Test func yamlSyntaxErrorsNameTheirLine() {
        let found = problems("rules:\n  - id: a\n   when: [\nfallback: spa\n")
        #expect(found.count == 1)
        #expect(found.first.map { $0.line >= 3 } == true, "\(found)")
    }

    @Test func fallbackIsRequired() {
        let found = problems("rules: []\n")
        #expect(found.map(\.message) == ["the rules file is missing 'fallback'"])
    }

    @Test func rejectsImpossiblePostcodePrefixes() {
        let found = problems("rules:\n  - id: a\n    when: { postcode: '12X' }\n    route_to: spa\nfallback: spa\n")
        #expect(found.first?.message.contains("not a postcode area") == true)
        #expect(found.first?.line == 3)
    }

    @Test func theShippedExampleConfigurationIsValid() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let agencies = try AgencyDirectory.load(
            path: root.appendingPathComponent("config/agencies.yaml").path, adapters: ["json-webhook", "fhir-r4", "bars", "template"])
        let set = try RuleSet.load(path: root.appendingPathComponent("config/rules.yaml").path, agencies: agencies, vocabulary: .standard)
        #expect(set.route(referral(needs: ["falls-prevention"], postcode: "OX3 9DU")).targets.map(\.agency.rawValue) == ["oxford-falls"])
        #expect(
            set.route(referral(needs: ["befriending"], postcode: "RG1 1AA", safeguarding: true)).targets.map(\.agency.rawValue) == [
                "oxfordshire-mash"
            ])
        // Reading is outside Oxfordshire: held, never sent to Oxfordshire's front door.
        let reading = set.route(referral(needs: ["carers-support", "befriending"], postcode: "RG1 1AA"))
        #expect(reading.outOfArea && reading.targets.isEmpty)
        #expect(set.route(referral(needs: ["befriending"], postcode: "RG9 1AA")).targets.map(\.agency.rawValue) == ["oxfordshire-befriending"])
    }
}
