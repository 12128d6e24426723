import Foundation
import ReferralModel
import Settings
import Yams

/// Information governance at the point of routing: a referral shared without the person's consent
/// (refused, or "not required" for a need that requires it) goes only to safeguarding recipients,
/// and, when the share is to protect someone's life, to agencies marked `vital_interests`; every
/// other agency the rules chose is withheld, and if none is left it goes to the rules' safeguarding
/// fallback. Sharing without consent is lawful when someone is at risk of harm, and only with those
/// who must act on that risk. Agencies that serve only some ages are withheld in the same way.
extension RuleSet {
    /// The rule id a referral carries when it went to the safeguarding fallback.
    public static let safeguardingFallbackRuleId = "safeguarding-fallback"

    /// Why this referral may go only to safeguarding recipients, or nil when it may go to every
    /// agency its rules choose.
    public func consentRestriction(_ referral: Referral) -> String? {
        switch referral.consent.status {
        case .refused:
            return "consent refused"
        case .notRequired:
            return referral.needs.first(where: vocabulary.requiresConsent).map { "no consent recorded, and \($0) requires it" }
        case .given, .bestInterests:
            return nil
        }
    }

    /// The decision with every target that may not receive the referral withheld (consent, ages),
    /// and its alternatives cut to those who may; when none is left, the last resort (the
    /// children's, safeguarding or plain fallback, the first that may receive it), or, when even
    /// that may not, nobody and a reason for a person to look.
    func applyingEligibility(to decision: RoutingDecision, eligibility: Eligibility) -> RoutingDecision {
        guard eligibility.consentRestriction != nil || directory.agencies.contains(where: { $0.ages != nil }) else { return decision }
        var result = decision
        result.targets = []
        for target in decision.targets {
            if let why = eligibility.refusal(for: target.agency) {
                result.withheld.append(.init(agency: target.agency, rule: target.rule, reason: why))
                continue
            }
            var kept = target
            // A later re-route must pass the same test: only those who may receive it are tried next.
            kept.alternatives = target.alternatives.filter(eligibility.mayReceive)
            result.targets.append(kept)
        }
        guard result.targets.isEmpty, !decision.targets.isEmpty || eligibility.consentRestriction != nil else { return result }
        if let last = lastResort(eligibility) {
            result.targets = [.init(agency: last.agency, rule: last.rule, alternatives: [])]
            result.usedFallback = true
            result.withheld.removeAll { $0.agency == last.agency }
        } else {
            let reasons = Set(result.withheld.map(\.reason)).sorted()
            result.attention = "no agency may receive it (\(reasons.joined(separator: "; "))), not even the fallback"
        }
        return result
    }

    /// `children_fallback`: required once any agency has an age range; it must serve children, and
    /// be a safeguarding recipient where there are any (a child's referral shared without consent
    /// may go only to one).
    static func checkChildrenFallback(_ node: Node?, top: Node?, agencies: AgencyDirectory, reader: ConfigReader) -> AgencyID? {
        let ranged = agencies.agencies.filter { $0.ages != nil }.map(\.id)
        guard let node else {
            if !ranged.isEmpty {
                reader.fail(
                    top, "the rules file is missing 'children_fallback'",
                    hint:
                        "some agencies serve only some ages (\(ranged.joined(separator: ", "))): name the agency that receives a child's referral when no other may, such as the children's front door"
                )
            }
            return nil
        }
        guard let agency = reader.string(node, "children_fallback").map(AgencyID.init) else { return nil }
        guard let settings = agencies[agency] else {
            reader.fail(
                node, "unknown agency '\(agency)'", hint: "agencies.yaml defines: \(agencies.agencies.map(\.id).sorted().joined(separator: ", "))")
            return nil
        }
        if let ages = settings.ages, (ages.min ?? 0) >= 18 {
            reader.fail(node, "'\(agency)' serves \(ages.words), so it cannot take a child's referral", hint: "name an agency that serves under-18s")
        }
        let recipients = agencies.agencies.filter(\.safeguardingRecipient).map(\.id)
        if !recipients.isEmpty, !settings.safeguardingRecipient {
            reader.fail(
                node, "'\(agency)' is not a safeguarding recipient, and a child's referral shared without consent may go only to one",
                hint: "name the children's front door, marked safeguarding: true in agencies.yaml")
        }
        return agency
    }

    /// `safeguarding_fallback`: required once any agency is a safeguarding recipient, and must be one.
    static func checkSafeguardingFallback(_ node: Node?, top: Node?, agencies: AgencyDirectory, reader: ConfigReader) -> AgencyID? {
        let recipients = agencies.agencies.filter(\.safeguardingRecipient).map(\.id)
        guard let node else {
            if !recipients.isEmpty {
                reader.fail(
                    top, "the rules file is missing 'safeguarding_fallback'",
                    hint:
                        "name the safeguarding recipient that receives a referral shared without consent when no rule sends it to one: \(recipients.joined(separator: ", "))"
                )
            }
            return nil
        }
        guard let agency = reader.string(node, "safeguarding_fallback").map(AgencyID.init) else { return nil }
        guard agencies[agency] != nil else {
            reader.fail(
                node, "unknown agency '\(agency)'", hint: "agencies.yaml defines: \(agencies.agencies.map(\.id).sorted().joined(separator: ", "))")
            return nil
        }
        guard recipients.contains(agency) else {
            reader.fail(
                node, "'\(agency)' is not a safeguarding recipient",
                hint: recipients.isEmpty
                    ? "mark the agency that may receive referrals shared without consent with safeguarding: true in agencies.yaml"
                    : "safeguarding recipients: \(recipients.joined(separator: ", "))")
            return nil
        }
        return agency
    }
}
