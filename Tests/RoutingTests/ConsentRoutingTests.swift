import Foundation
import ReferralModel
import Routing
import Settings
import Testing

/// Agencies for consent tests: a safeguarding hub and an out-of-hours team may receive referrals
/// shared without consent; the council's front door and a charity may not.
let consentAgencies = """
    agencies:
      - { id: spa, name: Front door, adapter: json-webhook, endpoint: "http://127.0.0.1:1/" }
      - { id: charity, name: Befriending charity, adapter: json-webhook, endpoint: "http://127.0.0.1:2/" }
      - { id: mash, name: Safeguarding hub, adapter: json-webhook, endpoint: "http://127.0.0.1:3/", safeguarding: true }
      - { id: edt, name: Emergency duty team, adapter: json-webhook, endpoint: "http://127.0.0.1:4/", safeguarding: true }
    """

let consentRules = """
    rules:
      - id: safeguarding
        when: { safeguarding: true }
        route_to: mash
      - id: befriending
        when: { needs: befriending }
        route_to: charity
        alternatives: [spa, edt]
      - id: out-of-hours-crisis
        when: { needs: mental-health-crisis }
        route_to: [edt, spa]
        alternatives: [charity, mash]
    fallback: spa
    safeguarding_fallback: mash
    """

func consentRuleSet(_ rules: String = consentRules, agencies: String = consentAgencies) throws -> RuleSet {
    let directory = try AgencyDirectory.parse(agencies, file: "agencies.yaml", adapters: ["json-webhook"])
    return try RuleSet.parse(rules, file: "rules.yaml", agencies: directory, vocabulary: .standard)
}

func referral(needs: [String], consent: ConsentStatus, safeguarding: Bool? = nil, urgency: Urgency = .emergency) -> Referral {
    Referral(
        referrer: .init(organisation: "QVV", name: "PC Test"),
        subject: .init(givenName: "Test", familyName: "Person", birthDate: "1950-01-01", postcode: "OX4 1AA"),
        needs: needs, urgency: urgency, reason: "test", consent: .init(status: consent), safeguarding: safeguarding)
}

@Suite struct ConsentRoutingTests {
    @Test func aRefusalReachesOnlySafeguardingRecipientsAndEachDropIsNamed() throws {
        let rules = try consentRuleSet()
        let decision = rules.route(referral(needs: ["befriending", "mental-health-crisis"], consent: .refused, safeguarding: true))
        #expect(decision.targets.map(\.agency.rawValue) == ["mash", "edt"])
        #expect(decision.targets.first { $0.agency == "edt" }?.alternatives == ["mash"], "alternatives pass the same rule")
        #expect(
            decision.withheld == [
                .init(agency: "charity", rule: "befriending", reason: "consent refused"),
                .init(agency: "spa", rule: "out-of-hours-crisis", reason: "consent refused"),
            ])
        #expect(rules.routeByScanning(referral(needs: ["befriending", "mental-health-crisis"], consent: .refused, safeguarding: true)) == decision)
    }

    @Test func withNoSafeguardingRecipientChosenItGoesToTheSafeguardingFallback() throws {
        let rules = try consentRuleSet()
        let decision = rules.route(referral(needs: ["safeguarding-adult", "befriending"], consent: .refused, safeguarding: false))
        #expect(decision.targets.map(\.agency.rawValue) == ["mash"])
        #expect(decision.targets.first?.rule == RuleSet.safeguardingFallbackRuleId)
        #expect(decision.usedFallback)
        #expect(decision.withheld.map(\.agency.rawValue) == ["charity"])
    }

    @Test func consentNotRequiredRestrictsOnlyWhenANeedRequiresConsent() throws {
        let rules = try consentRuleSet()
        let restricted = rules.route(referral(needs: ["befriending"], consent: .notRequired))
        #expect(restricted.targets.map(\.agency.rawValue) == ["mash"])
        #expect(restricted.withheld.first?.reason == "no consent recorded, and befriending requires it")
        // A safeguarding need may be shared without consent, to whoever the rules choose.
        let safeguardingOnly = rules.route(referral(needs: ["safeguarding-adult"], consent: .notRequired, safeguarding: true))
        #expect(safeguardingOnly.targets.map(\.agency.rawValue) == ["mash"])
        #expect(safeguardingOnly.withheld.isEmpty)
    }

    @Test(arguments: [ConsentStatus.given, .bestInterests])
    func withConsentOrABestInterestsDecisionEveryChosenAgencyReceivesIt(_ status: ConsentStatus) throws {
        let decision = try consentRuleSet().route(referral(needs: ["befriending", "mental-health-crisis"], consent: status))
        #expect(decision.targets.map(\.agency.rawValue) == ["charity", "edt", "spa"])
        #expect(decision.withheld.isEmpty)
    }

    @Test func theExampleBefriendingCharityNeverReceivesARefusedConsentReferral() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let agencies = try AgencyDirectory.load(
            path: root.appendingPathComponent("config/agencies.yaml").path, adapters: ["json-webhook", "fhir-r4", "bars", "template"])
        let rules = try RuleSet.load(path: root.appendingPathComponent("config/rules.yaml").path, agencies: agencies, vocabulary: .standard)
        let decision = rules.route(referral(needs: ["befriending", "safeguarding-adult"], consent: .refused, safeguarding: true))
        #expect(decision.targets.map(\.agency.rawValue) == ["oxfordshire-mash"])
        #expect(decision.withheld.map(\.agency.rawValue) == ["oxfordshire-befriending"])
    }

    @Test func withNoSafeguardingRecipientConfiguredARefusalGoesOnlyToTheFallback() throws {
        let agencies = consentAgencies.replacingOccurrences(of: ", safeguarding: true", with: "")
        let rules = try consentRuleSet(consentRules.replacingOccurrences(of: "safeguarding_fallback: mash", with: ""), agencies: agencies)
        let decision = rules.route(referral(needs: ["befriending", "mental-health-crisis"], consent: .refused, safeguarding: true))
        #expect(decision.targets.map(\.agency.rawValue) == ["spa"])
        #expect(Set(decision.withheld.map(\.agency.rawValue)) == ["mash", "charity", "edt"])
    }

    @Test func theSafeguardingFallbackIsRequiredAndMustBeARecipient() throws {
        func problems(_ rules: String) -> [String] {
            do {
                _ = try consentRuleSet(rules)
                return []
            } catch let error as ConfigError {
                return error.issues.map(\.message)
            } catch {
                return ["\(error)"]
            }
        }
        #expect(
            problems(consentRules.replacingOccurrences(of: "safeguarding_fallback: mash", with: "")) == [
                "the rules file is missing 'safeguarding_fallback'"
            ])
        #expect(
            problems(consentRules.replacingOccurrences(of: "safeguarding_fallback: mash", with: "safeguarding_fallback: charity")) == [
                "'charity' is not a safeguarding recipient"
            ])
        #expect(
            problems(consentRules.replacingOccurrences(of: "safeguarding_fallback: mash", with: "safeguarding_fallback: nobody")) == [
                "unknown agency 'nobody'"
            ])
        #expect(problems(consentRules.replacingOccurrences(of: "- id: befriending", with: "- id: safeguarding-fallback")).count == 1)
    }
}

/// A yes/no fact the referrer did not give is neither yes nor no to the rules.
@Suite struct TriStateRuleTests {
    @Test func safeguardingFalseMatchesOnlyAStatedNoAndUnknownMatchesSilence() throws {
        let agencies = try AgencyDirectory.parse(
            "agencies:\n  - { id: spa, name: S, adapter: json-webhook, endpoint: \"http://127.0.0.1:1/\" }\n"
                + "  - { id: ask, name: A, adapter: json-webhook, endpoint: \"http://127.0.0.1:2/\" }\n",
            file: "a.yaml", adapters: ["json-webhook"])
        let rules = try RuleSet.parse(
            """
            rules:
              - id: stated-no
                when: { safeguarding: false }
                route_to: spa
              - id: not-said
                when: { safeguarding: unknown }
                route_to: ask
            fallback: spa
            """, file: "r.yaml", agencies: agencies, vocabulary: .standard)
        #expect(rules.route(referral(needs: ["befriending"], consent: .given, safeguarding: false)).matchedRules == ["stated-no"])
        #expect(rules.route(referral(needs: ["befriending"], consent: .given, safeguarding: nil)).matchedRules == ["not-said"])
        #expect(rules.route(referral(needs: ["befriending"], consent: .given, safeguarding: true)).matchedRules == [])
        #expect(throws: ConfigError.self) {
            try RuleSet.parse(
                "rules:\n  - id: a\n    when: { safeguarding: maybe }\n    route_to: spa\nfallback: spa\n", file: "r.yaml", agencies: agencies,
                vocabulary: .standard)
        }
    }
}
