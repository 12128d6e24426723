import Foundation
import ReferralModel
import Routing
import Settings
import Testing

/// Agencies for urgency tests: a crisis team open in office hours with an out-of-hours cover, an
/// alternative, a council front door (the fallback), and a hub.
let urgencyAgencies = """
    agencies:
      - id: crisis
        name: Crisis team
        adapter: json-webhook
        endpoint: "http://127.0.0.1:1/"
        hours: { days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00", bank_holidays: closed }
        out_of_hours: edt
      - { id: home-treatment, name: Home treatment team, adapter: json-webhook, endpoint: "http://127.0.0.1:2/" }
      - { id: edt, name: Emergency duty team, adapter: json-webhook, endpoint: "http://127.0.0.1:3/" }
      - { id: spa, name: Front door, adapter: json-webhook, endpoint: "http://127.0.0.1:4/" }
    """

let urgencyRules = """
    bank_holidays: ["2026-12-25"]
    rules:
      - id: crisis
        when: { needs: mental-health-crisis }
        route_to: crisis
        alternatives: [home-treatment]
    fallback: spa
    """

/// Wednesday 2 December 2026, 10:00 and 20:00 in London (GMT), and Christmas Day at 10:00.
let wednesdayMorning = Date(timeIntervalSince1970: 1_796_205_600)
let wednesdayEvening = wednesdayMorning.addingTimeInterval(10 * 3_600)
let christmasMorning = wednesdayMorning.addingTimeInterval(23 * 86_400)

/// Urgency changes routing, not only deadlines: an emergency never waits on an agency that cannot act.
@Suite struct UrgentRoutingTests {
    func rules() throws -> RuleSet { try consentRuleSet(urgencyRules, agencies: urgencyAgencies) }

    func crisis(_ urgency: Urgency) -> Referral { referral(needs: ["mental-health-crisis"], consent: .given, urgency: urgency) }

    @Test func anEmergencyForAPausedTeamGoesToTheRulesAlternativeAtOnce() throws {
        let paused = LaneConditions(stopped: ["crisis": "paused by ops (planned upgrade)"])
        let decision = try rules().route(crisis(.emergency), at: wednesdayMorning, lanes: paused)
        #expect(decision.targets.map(\.agency.rawValue) == ["home-treatment"])
        #expect(decision.targets.first?.rule == "crisis:alternative")
        #expect(decision.replaced == [.init(agency: "crisis", by: "home-treatment", why: "crisis paused by ops (planned upgrade)")])
        #expect(decision.attention == nil)
    }

    @Test func aRoutineReferralWaitsForThePausedTeamAsBefore() throws {
        let paused = LaneConditions(stopped: ["crisis": "paused by ops"])
        let decision = try rules().route(crisis(.routine), at: wednesdayMorning, lanes: paused)
        #expect(decision.targets.map(\.agency.rawValue) == ["crisis"])
        #expect(decision.replaced.isEmpty)
    }

    @Test func outsideItsHoursTheTeamsCoverActsThenItsAlternatives() throws {
        let set = try rules()
        let evening = set.route(crisis(.urgent), at: wednesdayEvening)
        #expect(evening.targets.map(\.agency.rawValue) == ["edt"])
        #expect(evening.targets.first?.rule == "crisis:out-of-hours")
        #expect(evening.replaced.first?.why.hasPrefix("crisis closed (open mon,tue,wed,thu,fri 09:00–17:00 Europe/London") == true)
        #expect(set.route(crisis(.urgent), at: christmasMorning).targets.map(\.agency.rawValue) == ["edt"], "bank holidays are out of hours")
        #expect(set.route(crisis(.urgent), at: wednesdayMorning).targets.map(\.agency.rawValue) == ["crisis"], "open: it goes to the team")
        // The cover cannot act either: the rule's alternative.
        let coverDown = set.route(crisis(.emergency), at: wednesdayEvening, lanes: LaneConditions(stopped: ["edt": "unreachable (circuit open)"]))
        #expect(coverDown.targets.map(\.agency.rawValue) == ["home-treatment"])
    }

    @Test func withNobodyAbleToActTheReferralWaitsAndAPersonIsTold() throws {
        let down = LaneConditions(stopped: ["crisis": "disabled: HTTP 410", "home-treatment": "paused by ops", "spa": "paused by ops"])
        let decision = try rules().route(crisis(.emergency), at: wednesdayMorning, lanes: down)
        #expect(decision.targets.map(\.agency.rawValue) == ["crisis"], "it waits where the rules sent it")
        #expect(decision.attention?.contains("crisis disabled: HTTP 410") == true)
        #expect(decision.attention?.contains("no one who may receive it can act now") == true)
    }

    @Test func theFallbackActsWhenTheAlternativesCannot() throws {
        let down = LaneConditions(stopped: ["crisis": "paused by ops", "home-treatment": "paused by ops"])
        let decision = try rules().route(crisis(.emergency), at: wednesdayMorning, lanes: down)
        #expect(decision.targets.map(\.agency.rawValue) == ["spa"])
        #expect(decision.targets.first?.rule == RuleSet.fallbackRuleId)
    }

    @Test func aReRouteOfAnEmergencyPassesOverAgenciesThatCannotAct() throws {
        let set = try rules()
        let down = LaneConditions(stopped: ["home-treatment": "paused by ops"])
        let next = try #require(
            set.nextCandidate(
                for: crisis(.emergency), rule: "crisis", alternatives: ["home-treatment"], needs: nil, tried: ["crisis"], at: wednesdayMorning,
                lanes: down))
        #expect(next.target.agency == "spa" && next.waits == nil)
        // Routine: the next in order, stopped or not.
        let routine = try #require(
            set.nextCandidate(
                for: crisis(.routine), rule: "crisis", alternatives: ["home-treatment"], needs: nil, tried: ["crisis"], at: wednesdayMorning,
                lanes: down))
        #expect(routine.target.agency == "home-treatment")
        // Nobody can act: the first, with why it waits.
        let all = LaneConditions(stopped: ["home-treatment": "paused by ops", "spa": "paused by ops"])
        let waiting = try #require(
            set.nextCandidate(
                for: crisis(.emergency), rule: "crisis", alternatives: ["home-treatment"], needs: nil, tried: ["crisis"], at: wednesdayMorning,
                lanes: all))
        #expect(waiting.target.agency == "home-treatment" && waiting.waits == "home-treatment paused by ops")
    }

    @Test func hoursAndCoverAreCheckedWithTheirLines() {
        func problems(_ agencies: String) -> [String] {
            do {
                _ = try AgencyDirectory.parse(agencies, file: "agencies.yaml", adapters: ["json-webhook"])
                return []
            } catch {
                return error.issues.map { "\($0.line): \($0.message)" }
            }
        }
        let base = "agencies:\n  - { id: a, name: A, adapter: json-webhook, endpoint: \"http://127.0.0.1:1/\", "
        #expect(problems(base + "hours: { from: \"9am\", to: \"17:00\" } }").contains { $0.contains("from '9am' is not a time of day") })
        #expect(problems(base + "hours: { days: [funday], from: \"09:00\", to: \"17:00\" } }").contains { $0.contains("'funday' is not a day") })
        #expect(problems(base + "out_of_hours: b }").contains { $0.contains("out_of_hours names unknown agency 'b'") })
        #expect(problems(base + "out_of_hours: a, hours: { from: \"09:00\", to: \"17:00\" } }").contains { $0.contains("names the agency itself") })
        #expect(problems(base + "hours: { from: \"09:00\", to: \"17:00\", bank_holidays: maybe } }").contains { $0.contains("closed or open") })
    }
}

/// Sharing without consent to protect life, and children's own path.
@Suite struct DutyToShareAndChildrenTests {
    let agencies = """
        agencies:
          - { id: spa, name: Adult front door, adapter: json-webhook, endpoint: "http://127.0.0.1:1/", ages: { min: 18 } }
          - { id: charity, name: Befriending, adapter: json-webhook, endpoint: "http://127.0.0.1:2/", ages: { min: 18 } }
          - { id: mash, name: Adult safeguarding hub, adapter: json-webhook, endpoint: "http://127.0.0.1:3/", safeguarding: true, ages: { min: 18 } }
          - { id: crisis, name: Crisis team, adapter: json-webhook, endpoint: "http://127.0.0.1:4/", vital_interests: true }
          - { id: children, name: Children's front door, adapter: json-webhook, endpoint: "http://127.0.0.1:5/", safeguarding: true, ages: { max: 17 } }
        """
    let rules = """
        rules:
          - { id: safeguarding, when: { safeguarding: true }, route_to: mash }
          - { id: crisis, when: { needs: mental-health-crisis }, route_to: crisis }
          - { id: carers, when: { needs: carers-support }, route_to: [charity, spa] }
          - { id: child-safeguarding, when: { needs: safeguarding-child }, route_to: children }
        fallback: spa
        safeguarding_fallback: mash
        children_fallback: children
        """

    func set() throws -> RuleSet { try consentRuleSet(rules, agencies: agencies) }

    func person(born: String, needs: [String], consent: Referral.Consent, safeguarding: Bool? = true) -> Referral {
        var referral = referral(needs: needs, consent: consent.status, safeguarding: safeguarding)
        referral.consent = consent
        referral.subject.birthDate = born
        return referral
    }

    @Test func refusedConsentToProtectLifeReachesTheCrisisTeamAndTheHub() throws {
        let vital = Referral.Consent(status: .refused, lawfulBasis: .vitalInterests, decisionMaker: "Dr A Test, consultant")
        let decision = try set().route(
            person(born: "1980-05-01", needs: ["mental-health-crisis"], consent: vital), at: wednesdayMorning)
        #expect(decision.targets.map(\.agency.rawValue) == ["mash", "crisis"])
        // Another basis: the hub only, as before.
        let task = Referral.Consent(status: .refused, lawfulBasis: .publicTask, decisionMaker: "Dr A Test")
        let restricted = try set().route(person(born: "1980-05-01", needs: ["mental-health-crisis"], consent: task), at: wednesdayMorning)
        #expect(restricted.targets.map(\.agency.rawValue) == ["mash"])
        #expect(restricted.withheld.map(\.agency.rawValue) == ["crisis"])
    }

    @Test func theSafeguardingDutyReachesVitalInterestsAgenciesForASafeguardingNeed() throws {
        let duty = Referral.Consent(status: .refused, lawfulBasis: .safeguarding, decisionMaker: "J Test, social worker")
        let decision = try set().route(
            person(born: "1980-05-01", needs: ["safeguarding-adult", "mental-health-crisis"], consent: duty), at: wednesdayMorning)
        #expect(Set(decision.targets.map(\.agency.rawValue)) == ["mash", "crisis"])
    }

    @Test func aTenYearOldYoungCarerNeverReachesAnAdultsOnlyAgency() throws {
        // Ten on 2 December 2026.
        let consent = Referral.Consent(status: .given, parentalResponsibility: "A Parent (mother)")
        let decision = try set().route(person(born: "2016-03-10", needs: ["carers-support"], consent: consent), at: wednesdayMorning)
        #expect(decision.targets.map(\.agency.rawValue) == ["children"])
        #expect(decision.targets.first?.rule == RuleSet.childrenFallbackRuleId)
        #expect(Set(decision.withheld.map(\.agency.rawValue)) == ["mash", "charity", "spa"])
        #expect(decision.withheld.first { $0.agency == "spa" }?.reason == "aged 10; spa serves 18 and over")
        // At eighteen the same referral goes to the adults' agencies.
        let adult = try set().route(
            person(born: "2008-12-02", needs: ["carers-support"], consent: .init(status: .given)), at: wednesdayMorning)
        #expect(adult.targets.map(\.agency.rawValue) == ["mash", "charity", "spa"])
    }

    @Test func aChildsReferralSharedWithoutConsentStillReachesOnlyTheChildrensSafeguardingDoor() throws {
        let duty = Referral.Consent(status: .refused, lawfulBasis: .safeguarding, decisionMaker: "PC Test")
        let decision = try set().route(person(born: "2016-03-10", needs: ["safeguarding-child"], consent: duty), at: wednesdayMorning)
        #expect(decision.targets.map(\.agency.rawValue) == ["children"])
    }

    @Test func childrenFallbackIsRequiredOnceAnAgencyHasAnAgeRangeAndMustServeChildren() {
        func problems(_ rules: String) -> [String] {
            do {
                _ = try consentRuleSet(rules, agencies: agencies)
                return []
            } catch let error as ConfigError {
                return error.issues.map(\.message)
            } catch {
                return ["\(error)"]
            }
        }
        let without = rules.replacingOccurrences(of: "children_fallback: children", with: "")
        #expect(problems(without).contains("the rules file is missing 'children_fallback'"))
        let adults = rules.replacingOccurrences(of: "children_fallback: children", with: "children_fallback: spa")
        #expect(problems(adults).contains { $0.contains("'spa' serves 18 and over, so it cannot take a child's referral") })
        let notRecipient = rules.replacingOccurrences(of: "children_fallback: children", with: "children_fallback: crisis")
        #expect(problems(notRecipient).contains { $0.contains("'crisis' is not a safeguarding recipient") })
    }
}

/// When an agency must act: the sooner of the referral's own time and the urgency's allowance.
@Suite struct DeadlineChoiceTests {
    @Test func respondByWinsOnlyWhenItIsSooner() {
        let start = wednesdayMorning
        let allowance = AcknowledgementDeadline.due(
            urgency: .emergency, respondBy: nil, from: start, acknowledgement: .init(), bankHolidays: [])
        #expect(allowance == start.addingTimeInterval(3_600))
        let nextJune = AcknowledgementDeadline.due(
            urgency: .emergency, respondBy: "2027-06-01T12:00:00Z", from: start, acknowledgement: .init(), bankHolidays: [])
        #expect(nextJune == allowance, "an emergency with respondBy next June still escalates within the hour")
        let sooner = AcknowledgementDeadline.due(
            urgency: .routine, respondBy: Timestamp.string(start.addingTimeInterval(1_800)), from: start, acknowledgement: .init(),
            bankHolidays: [])
        #expect(sooner == start.addingTimeInterval(1_800))
    }
}
