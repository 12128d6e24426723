import Foundation
import ReferralModel
import Routing
import Settings
import Testing

/// A referral for someone who lives outside the places a deployment serves never lands in a local
/// council's system by default.
@Suite struct ServiceAreaTests {
    func ruleSet(outOfArea: String = "hold") throws -> RuleSet {
        try consentRuleSet(consentRules + "\nservice_area: [OX, RG9, SN7]\nout_of_area: \(outOfArea)\n")
    }

    /// A routine referral unless told otherwise: an emergency or urgent one from outside the area is routed (below).
    func person(
        at postcode: String, needs: [String] = ["befriending"], consent: ConsentStatus = .given, safeguarding: Bool? = nil,
        urgency: Urgency = .routine
    ) -> Referral {
        var referral = referral(needs: needs, consent: consent, safeguarding: safeguarding, urgency: urgency)
        referral.subject.postcode = postcode
        return referral
    }

    @Test func onlyThePlacesListedAreInTheArea() throws {
        let set = try ruleSet()
        #expect(set.route(person(at: "OX1 2JD")).targets.map(\.agency.rawValue) == ["charity"])
        #expect(set.route(person(at: "RG9 1AA")).targets.map(\.agency.rawValue) == ["charity"], "Henley is RG9, inside")
        let reading = set.route(person(at: "RG1 1AA"))
        #expect(reading.outOfArea)
        #expect(reading.targets.isEmpty, "held, sent to no one: not the council's front door")
        #expect(!reading.usedFallback)
    }

    @Test func anOutOfAreaAgencyTakesThemWhenOneIsNamed() throws {
        let decision = try ruleSet(outOfArea: "spa").route(person(at: "RG1 1AA"))
        #expect(decision.outOfArea)
        #expect(decision.targets.map(\.agency.rawValue) == ["spa"])
        #expect(decision.targets.map(\.rule) == [RuleSet.outOfAreaRuleId])
    }

    @Test func aSafeguardingConcernIsRoutedWhereverThePersonLives() throws {
        let set = try ruleSet()
        let concern = set.route(person(at: "RG1 1AA", safeguarding: true))
        #expect(!concern.outOfArea)
        #expect(concern.targets.map(\.agency.rawValue).contains("mash"))
        #expect(!set.route(person(at: "RG1 1AA", needs: ["safeguarding-adult"])).outOfArea)
    }

    @Test func sharingWithoutConsentStillGoesOnlyToTheSafeguardingHub() throws {
        let decision = try ruleSet(outOfArea: "spa").route(person(at: "RG1 1AA", consent: .refused))
        #expect(decision.targets.map(\.agency.rawValue) == ["mash"], "the out-of-area agency is no safeguarding recipient")
        #expect(decision.withheld.map(\.agency.rawValue) == ["spa"])
    }

    @Test func anEmergencyOrUrgentReferralFromElsewhereIsRoutedWherePersonIsByDefault() throws {
        // A student from Reading in crisis in Oxford: crisis care is owed where the person is.
        let set = try ruleSet()
        for urgency in [Urgency.emergency, .urgent] {
            let decision = set.route(person(at: "RG1 1AA", needs: ["mental-health-crisis"], urgency: urgency))
            #expect(!decision.outOfArea, "\(urgency)")
            #expect(decision.targets.map(\.agency.rawValue) == ["edt", "spa"], "\(urgency): the rules apply as if in the area")
            #expect(decision.attention == nil)
        }
        #expect(set.route(person(at: "RG1 1AA", needs: ["mental-health-crisis"], urgency: .routine)).outOfArea, "routine is held as before")
    }

    @Test func withAttentionAnUrgentReferralFromElsewhereIsHeldAndPutBeforeAPerson() throws {
        let set = try consentRuleSet(consentRules + "\nservice_area: [OX]\nout_of_area: hold\nout_of_area_urgent: attention\n")
        let decision = set.route(person(at: "RG1 1AA", needs: ["mental-health-crisis"], urgency: .emergency))
        #expect(decision.outOfArea && decision.targets.isEmpty)
        #expect(decision.attention == "emergency referral for someone outside the service area")
        #expect(
            set.route(person(at: "RG1 1AA", urgency: .routine)).attention == nil, "a routine one is held; intake puts every held one before a person")
    }

    @Test func withoutAServiceAreaEveryReferralIsRoutedAsBefore() throws {
        let decision = try consentRuleSet().route(person(at: "RG1 1AA"))
        #expect(!decision.outOfArea)
        #expect(decision.targets.map(\.agency.rawValue) == ["charity"])
    }

    @Test func badServiceAreasAreRefusedWithTheirLine() {
        func problems(_ tail: String) -> [String] {
            do {
                _ = try consentRuleSet(consentRules + "\n" + tail)
                return []
            } catch let error as ConfigError {
                return error.issues.map(\.message)
            } catch {
                return ["\(error)"]
            }
        }
        #expect(problems("service_area: [OX, '12X']").contains { $0.contains("'12X' is neither a postcode area") })
        #expect(problems("service_area: [OX]\nout_of_area: the-moon").contains { $0.contains("out_of_area must be 'hold' or an agency") })
        #expect(problems("out_of_area: hold").contains("out_of_area needs a service_area"))
        #expect(problems("out_of_area_urgent: attention").contains("out_of_area_urgent needs a service_area"))
        #expect(
            problems("service_area: [OX]\nout_of_area_urgent: sometimes").contains { $0.contains("out_of_area_urgent must be route or attention") })
    }
}
