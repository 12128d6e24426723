import Foundation
import ReferralModel
import Routing
import Settings
import Testing

let directoryText = """
    agencies:
      - id: spa
        name: County front door
        adapter: json-webhook
        endpoint: http://127.0.0.1:9101/
        services: [adult-social-care, falls-prevention]
        coverage: [OX]
      - id: city-falls
        name: City falls team
        adapter: json-webhook
        endpoint: http://127.0.0.1:9102/
        services: [falls-prevention]
        coverage: [OX1, OX2]
      - id: headington-falls
        name: Headington falls clinic
        adapter: json-webhook
        endpoint: http://127.0.0.1:9103/
        services: [falls-prevention]
        coverage: [OX3 9]
      - id: edt
        name: Emergency duty team
        adapter: json-webhook
        endpoint: http://127.0.0.1:9104/
    """

func placeDirectory() throws -> AgencyDirectory {
    try AgencyDirectory.parse(directoryText, file: "agencies.yaml", adapters: ["json-webhook"])
}

func placeRules(_ text: String) throws -> RuleSet {
    try RuleSet.parse(text, file: "rules.yaml", agencies: placeDirectory(), vocabulary: .standard)
}

func placeProblems(_ text: String) -> [String] {
    do {
        _ = try placeRules(text)
        return []
    } catch let error as ConfigError {
        return error.issues.map { "\($0.line): \($0.message)" }
    } catch {
        return ["\(error)"]
    }
}

/// 2026 instants given in UTC: winter is GMT, summer is BST (UTC+1).
func utc(_ text: String) -> Date {
    let formatter = ISO8601DateFormatter()
    return formatter.date(from: text)!
}

func person(born: String = "1950-06-15", postcode: String = "OX1 2JD", needs: [String] = ["adult-social-care"], language: String? = nil) -> Referral {
    Referral(
        referrer: .init(organisation: "A81001", name: "Dr Test"),
        subject: .init(givenName: "Test", familyName: "Person", birthDate: born, postcode: postcode, preferredLanguage: language),
        needs: needs, urgency: .urgent, reason: "test", consent: .init(status: .given))
}

@Suite struct ServiceDirectoryTests {
    @Test func theMostSpecificCoverageWinsAndTheRestAreAlternatives() throws {
        let set = try placeRules(
            "rules:\n  - id: falls\n    when: { needs: falls-prevention }\n    route_to_service: falls-prevention\nfallback: spa\n")
        let headington = set.route(person(postcode: "OX3 9DU", needs: ["falls-prevention"]))
        #expect(headington.targets.map(\.agency.rawValue) == ["headington-falls"])
        #expect(headington.targets.first?.alternatives == ["spa"])
        let city = set.route(person(postcode: "OX1 2JD", needs: ["falls-prevention"]))
        #expect(city.targets.map(\.agency.rawValue) == ["city-falls"])
        #expect(city.targets.first?.alternatives == ["spa"])
        let county = set.route(person(postcode: "OX10 7AA", needs: ["falls-prevention"]))
        #expect(county.targets.map(\.agency.rawValue) == ["spa"])
        // Nobody covers Reading: the rule chooses no one and the fallback catches it.
        let outside = set.route(person(postcode: "RG1 1AA", needs: ["falls-prevention"]))
        #expect(outside.usedFallback)
    }

    @Test func aServiceNobodyOffersIsAnError() {
        #expect(
            placeProblems("rules:\n  - id: a\n    when: { always: true }\n    route_to_service: befriending\nfallback: spa\n") == [
                "4: no agency offers 'befriending'"
            ])
    }
}

@Suite struct FieldAndAgeTests {
    @Test func fieldOperators() throws {
        let set = try placeRules(
            """
            rules:
              - id: polish
                when: { field: subject/preferredLanguage, in: [pl, ro] }
                route_to: city-falls
              - id: no-language
                when: { field: subject/preferredLanguage, exists: false }
                route_to: headington-falls
              - id: gp
                when: { field: referrer/organisation, matches: '^[A-Z][0-9]{5}$' }
                route_to: edt
            fallback: spa
            """)
        #expect(set.route(person(language: "pl")).targets.map(\.agency.rawValue) == ["city-falls", "edt"])
        #expect(set.route(person()).targets.map(\.agency.rawValue) == ["headington-falls", "edt"])
        #expect(set.route(person(language: "en")).targets.map(\.agency.rawValue) == ["edt"])
    }

    @Test func ageIsWholeYearsOnTheDayReceived() throws {
        let set = try placeRules("rules:\n  - id: older\n    when: { age: { min: 65 } }\n    route_to: city-falls\nfallback: spa\n")
        let born = person(born: "1961-11-23")
        #expect(set.route(born, at: utc("2026-11-22T12:00:00Z")).targets.map(\.agency.rawValue) == ["spa"], "64 the day before the birthday")
        #expect(set.route(born, at: utc("2026-11-23T00:30:00Z")).targets.map(\.agency.rawValue) == ["city-falls"], "65 on the birthday")
    }

    @Test func badFieldTestsAreErrors() {
        let found = placeProblems(
            """
            rules:
              - id: a
                when: { field: subject/shoeSize, equals: "9" }
                route_to: spa
              - id: b
                when: { field: referrer/role, matches: "([unclosed" }
                route_to: spa
              - id: c
                when: { age: { min: 90, max: 18 } }
                route_to: spa
            fallback: spa
            """)
        #expect(found.contains { $0.hasPrefix("3: 'subject/shoeSize' is not a referral field") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("6: '([unclosed' is not a pattern this gateway can run: a '[' is not closed with ']'") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("9: age min 90 is above max 18") }, "\(found)")
    }

    @Test(arguments: ["subject/familyName", "subject/nhsNumber", "reason", "subject/birthDate", "referrer/email"])
    func aRuleMayNotTestAFieldThatIdentifiesThePerson(_ path: String) {
        let found = placeProblems("rules:\n  - id: a\n    when: { field: \(path), exists: true }\n    route_to: spa\nfallback: spa\n")
        #expect(found.count == 1, "\(found)")
        #expect(found.first?.hasPrefix("3: rules may not test \(path): it identifies the person") == true, "\(found)")
    }
}

@Suite struct TimeWindowTests {
    let officeHours = """
        bank_holidays: ["2026-12-25", "2026-12-28", "2026-05-04"]
        rules:
          - id: office
            when: { time: { days: weekdays, from: "09:00", to: "17:00" } }
            route_to: spa
            stop: true
          - id: out-of-hours
            when: { always: true }
            route_to: edt
        fallback: spa
        """

    func agency(at instant: String) throws -> [String] {
        try placeRules(officeHours).route(person(), at: utc(instant)).targets.map(\.agency.rawValue)
    }

    @Test func seventeenHundredIsOutOfHours() throws {
        #expect(try agency(at: "2026-11-23T16:59:00Z") == ["spa"], "Monday 16:59 GMT")
        #expect(try agency(at: "2026-11-23T17:00:00Z") == ["edt"], "Monday 17:00 GMT is closed")
        #expect(try agency(at: "2026-11-23T08:59:00Z") == ["edt"])
        #expect(try agency(at: "2026-11-28T12:00:00Z") == ["edt"], "Saturday")
    }

    @Test func summerTimeIsLocalTime() throws {
        // 08:30 UTC in July is 09:30 BST: open. 16:30 UTC is 17:30 BST: closed.
        #expect(try agency(at: "2026-07-14T08:30:00Z") == ["spa"])
        #expect(try agency(at: "2026-07-14T16:30:00Z") == ["edt"])
    }

    @Test func bankHolidaysAreOutOfHours() throws {
        #expect(try agency(at: "2026-12-28T11:00:00Z") == ["edt"], "the Christmas substitute bank holiday, a Monday")
        #expect(try agency(at: "2026-05-04T10:00:00Z") == ["edt"], "early May bank holiday, in BST")
    }

    @Test func theHourThatSummerTimeSkipsAndRepeats() throws {
        let set = try placeRules(
            """
            rules:
              - id: small-hours
                when: { time: { days: [sun], from: "01:00", to: "02:00" } }
                route_to: edt
            fallback: spa
            """)
        // 29 March 2026: clocks go from 01:00 GMT to 02:00 BST, so local 01:00-02:00 never happens.
        #expect(set.route(person(), at: utc("2026-03-29T00:59:00Z")).targets.map(\.agency.rawValue) == ["spa"], "00:59 GMT")
        #expect(set.route(person(), at: utc("2026-03-29T01:00:00Z")).targets.map(\.agency.rawValue) == ["spa"], "02:00 BST")
        // 25 October 2026: local 01:00-02:00 happens twice, first in BST then in GMT; both match.
        #expect(set.route(person(), at: utc("2026-10-25T00:30:00Z")).targets.map(\.agency.rawValue) == ["edt"], "01:30 BST")
        #expect(set.route(person(), at: utc("2026-10-25T01:30:00Z")).targets.map(\.agency.rawValue) == ["edt"], "01:30 GMT")
        #expect(set.route(person(), at: utc("2026-10-25T02:00:00Z")).targets.map(\.agency.rawValue) == ["spa"], "02:00 GMT")
    }

    @Test func anOvernightWindowBelongsToTheDayItStarts() throws {
        let set = try placeRules(
            """
            rules:
              - id: friday-night
                when: { time: { days: [fri], from: "22:00", to: "06:00" } }
                route_to: edt
            fallback: spa
            """)
        #expect(set.route(person(), at: utc("2026-11-27T23:00:00Z")).targets.map(\.agency.rawValue) == ["edt"], "Friday 23:00")
        #expect(set.route(person(), at: utc("2026-11-28T05:00:00Z")).targets.map(\.agency.rawValue) == ["edt"], "Saturday 05:00 still Friday night")
        #expect(set.route(person(), at: utc("2026-11-29T05:00:00Z")).targets.map(\.agency.rawValue) == ["spa"], "Sunday 05:00")
    }

    @Test func impossibleWindowsAreErrors() {
        let found = placeProblems(
            """
            rules:
              - id: a
                when: { time: { from: "09:00", to: "09:00" } }
                route_to: spa
              - id: b
                when: { time: { days: [funday], from: "09:00", to: "17:00" } }
                route_to: spa
              - id: c
                when: { time: { from: "25:00", to: "26:00" } }
                route_to: spa
              - id: d
                when: { time: { from: "09:00", to: "17:00", bank_holidays: only } }
                route_to: spa
            fallback: spa
            """)
        #expect(found.contains { $0.hasPrefix("3: the window from 09:00 to 09:00 is empty") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("6: 'funday' is not a day") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("9: from '25:00' is not a time of day") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("12: bank_holidays: only, but the rules file lists no bank_holidays") }, "\(found)")
    }
}

@Suite struct ShadowingAndExplanationTests {
    @Test func aRuleShadowedByAnEarlierStopRuleIsAnError() {
        let found = placeProblems(
            """
            rules:
              - id: everything
                when: { always: true }
                route_to: spa
                stop: true
              - id: never
                when: { needs: falls-prevention }
                route_to: city-falls
            fallback: spa
            """)
        #expect(found == ["6: rule 'never' can never match: the earlier rule 'everything' has stop: true and matches every referral it would"])
    }

    @Test func theExplanationNamesTheFailingCondition() throws {
        let set = try placeRules(
            """
            rules:
              - id: falls-city
                when: { needs: falls-prevention, postcode: OX1 }
                route_to: city-falls
              - id: care
                when: { needs: adult-social-care }
                route_to: spa
                stop: true
              - id: late
                when: { always: true }
                route_to: edt
            fallback: spa
            """)
        let (decision, traces) = set.explain(person(postcode: "OX3 9DU", needs: ["adult-social-care"]), at: utc("2026-11-23T10:00:00Z"))
        #expect(decision.targets.map(\.agency.rawValue) == ["spa"])
        #expect(traces.map(\.rule) == ["falls-city", "care", "late"])
        #expect(traces[0].failure == "needs adult-social-care include none of falls-prevention")
        #expect(traces[1].failure == nil && traces[1].agencies == ["spa"])
        #expect(traces[2].skipped)
    }
}
