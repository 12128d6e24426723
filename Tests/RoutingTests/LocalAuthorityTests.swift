import Foundation
import ReferralModel
import Routing
import Settings
import Testing

/// Place by local authority: a postcode area is not a council (Henley is RG9, in Oxfordshire;
/// Reading is RG1, not), so rules, the service area and coverage can name local authorities by GSS
/// code, resolved through the imported postcode directory.
@Suite struct LocalAuthorityTests {
    /// What a postcode directory says of three postcodes: Oxford (district E07000178) and Henley
    /// (E07000179) are in Oxfordshire (county E10000025); Reading is its own unitary authority.
    static let directory: [String: Set<String>] = [
        "OX1 2JD": ["E07000178", "E10000025"], "RG9 1AA": ["E07000179", "E10000025"], "RG1 1AA": ["E06000038"],
    ]

    func person(at postcode: String, needs: [String] = ["befriending"], safeguarding: Bool? = nil) -> Referral {
        // Routine: an emergency or urgent referral from outside the area is routed anyway.
        var referral = referral(needs: needs, consent: .given, safeguarding: safeguarding, urgency: .routine)
        referral.subject.postcode = postcode
        return referral
    }

    func route(_ set: RuleSet, _ postcode: String, needs: [String] = ["befriending"]) -> RoutingDecision {
        set.route(person(at: postcode, needs: needs), localAuthorities: Self.directory[postcode] ?? [])
    }

    @Test func aRuleMayNameALocalAuthority() throws {
        let set = try consentRuleSet(
            """
            rules:
              - id: befriending-oxfordshire
                when: { needs: befriending, local_authority: E10000025 }
                route_to: charity
            fallback: spa
            safeguarding_fallback: mash
            """)
        #expect(set.localAuthorities == ["E10000025"])
        #expect(route(set, "RG9 1AA").targets.map(\.agency.rawValue) == ["charity"], "Henley: RG9, but Oxfordshire")
        #expect(route(set, "RG1 1AA").targets.map(\.agency.rawValue) == ["spa"], "Reading: RG too, but not Oxfordshire")
        #expect(route(set, "OX4 9ZZ").targets.map(\.agency.rawValue) == ["spa"], "a postcode the directory does not know matches no authority")
        let (_, traces) = set.explain(person(at: "RG1 1AA"), at: Date(), localAuthorities: ["E06000038"])
        #expect(traces.first?.failure == "postcode RG1 1AA is in E06000038, not E10000025")
        #expect(set.route(person(at: "RG9 1AA")) == set.routeByScanning(person(at: "RG9 1AA")))
    }

    @Test func theServiceAreaMayBeALocalAuthority() throws {
        let set = try consentRuleSet(consentRules + "\nservice_area: [E10000025]\nout_of_area: hold\n")
        #expect(!route(set, "OX1 2JD").outOfArea)
        #expect(!route(set, "RG9 1AA").outOfArea)
        let reading = route(set, "RG1 1AA")
        #expect(reading.outOfArea && reading.targets.isEmpty, "Reading is held, not sent to Oxfordshire's front door")
        #expect(route(set, "OX4 9ZZ").outOfArea, "a postcode the directory does not know is held, not guessed")
        let mixed = try consentRuleSet(consentRules + "\nservice_area: [E10000025, OX4]\n")
        #expect(!route(mixed, "OX4 9ZZ").outOfArea, "a postcode prefix still takes it in")
    }

    @Test func coverageMayNameALocalAuthorityAndTheMostSpecificWins() throws {
        let agencies = """
            agencies:
              - { id: spa, name: Front door, adapter: json-webhook, endpoint: "http://127.0.0.1:1/" }
              - { id: county-falls, name: County falls, adapter: json-webhook, endpoint: "http://127.0.0.1:2/", services: [falls-prevention], coverage: [E10000025] }
              - { id: henley-falls, name: Henley falls, adapter: json-webhook, endpoint: "http://127.0.0.1:3/", services: [falls-prevention], coverage: [E07000179] }
            """
        let set = try consentRuleSet(
            """
            rules:
              - id: falls
                when: { needs: falls-prevention }
                route_to_service: falls-prevention
            fallback: spa
            """, agencies: agencies)
        #expect(set.localAuthorities == ["E10000025", "E07000179"])
        let henley = route(set, "RG9 1AA", needs: ["falls-prevention"]).targets.first
        #expect(henley?.agency == "henley-falls")
        #expect(henley?.alternatives == ["county-falls"])
        #expect(route(set, "OX1 2JD", needs: ["falls-prevention"]).targets.map(\.agency.rawValue) == ["county-falls"])
        #expect(route(set, "RG1 1AA", needs: ["falls-prevention"]).targets.map(\.agency.rawValue) == ["spa"])
    }

    @Test func aCodeThatIsNoLocalAuthorityIsRefusedWithItsLine() throws {
        do {
            _ = try consentRuleSet(
                """
                rules:
                  - id: r
                    when: { local_authority: [E10000025, E23000029] }
                    route_to: charity
                fallback: spa
                safeguarding_fallback: mash
                service_area: [OX, Oxfordshire]
                """)
            Issue.record("accepted")
        } catch let error as ConfigError {
            #expect(
                error.issues.map { "\($0.line): \($0.message)" } == [
                    "3: local_authority 'E23000029' must be a local authority's GSS code, for example E10000025 (a county) or E06000042 (a unitary authority).",
                    "7: 'OXFORDSHIRE' is neither a postcode area, district, sector or full postcode nor a local authority's GSS code",
                ])
        }
    }
}
