import Foundation
import ReferralModel
import Routing
import Settings
import Testing

/// Each agency a rule chose learns only the needs that rule routes for.
@Suite struct NeedsSharingTests {
    func exampleRules() throws -> RuleSet {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let agencies = try AgencyDirectory.load(
            path: root.appendingPathComponent("config/agencies.yaml").path, adapters: ["json-webhook", "fhir-r4", "bars", "template"])
        return try RuleSet.load(path: root.appendingPathComponent("config/rules.yaml").path, agencies: agencies, vocabulary: .standard)
    }

    func referral(_ needs: [String]) -> Referral {
        Referral(
            referrer: .init(organisation: "K84001", name: "Dr Test"),
            subject: .init(givenName: "Test", familyName: "Person", birthDate: "1950-01-01", postcode: "OX4 1AA"),
            needs: needs, urgency: .urgent, reason: "test", consent: .init(status: .given))
    }

    @Test func theBefriendingCharityIsNotToldOfACrisisAnotherRuleSentElsewhere() throws {
        let decision = try exampleRules().route(referral(["mental-health-crisis", "befriending", "falls-prevention"]))
        let needs = Dictionary(uniqueKeysWithValues: decision.targets.map { ($0.agency, $0.needs) })
        #expect(needs["oxford-mh-crisis"] == ["mental-health-crisis"])
        #expect(needs["oxfordshire-befriending"] == ["befriending"])
        #expect(needs["oxford-falls"] == ["falls-prevention"])
    }

    @Test func aRuleThatRoutesRegardlessOfNeedAndTheFallbackPassOnEveryNeed() throws {
        let rules = try exampleRules()
        let safeguarding = rules.route(
            Referral(
                referrer: .init(organisation: "QVV", name: "PC Test"),
                subject: .init(givenName: "T", familyName: "P", birthDate: "1950-01-01", postcode: "OX4 1AA"),
                needs: ["substance-misuse", "housing-support"], urgency: .emergency, reason: "x", consent: .init(status: .given),
                safeguarding: true))
        #expect(safeguarding.targets.first { $0.agency == "oxfordshire-mash" }?.needs == nil, "its rule tests the flag, not a need")
        let nothingMatched = rules.route(referral(["district-nursing"]))
        #expect(nothingMatched.usedFallback)
        #expect(nothingMatched.targets.first?.needs == nil)
    }

    @Test func aNeedUnderNotDoesNotCount() throws {
        let agencies = try AgencyDirectory.parse(
            "agencies:\n  - { id: spa, name: S, adapter: json-webhook, endpoint: \"http://127.0.0.1:1/\" }\n", file: "a.yaml",
            adapters: ["json-webhook"])
        let rules = try RuleSet.parse(
            "rules:\n  - id: r\n    when: { all: [ { needs: reablement }, { not: { needs: befriending } } ] }\n    route_to: spa\nfallback: spa\n",
            file: "r.yaml", agencies: agencies, vocabulary: .standard)
        #expect(rules.route(referral(["reablement", "carers-support"])).targets.first?.needs == ["reablement"])
    }
}
