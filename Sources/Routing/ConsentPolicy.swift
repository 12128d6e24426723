import Foundation
import ReferralModel
import Settings
import Yams

/// Information governance at the point of routing: a referral shared without the person's consent
/// (refused, or "not required" for a need that requires it) goes only to safeguarding recipients;
/// every other agency the rules chose is withheld, and if none is left it goes to the rules'
/// safeguarding fallback. Sharing without consent is lawful when someone is at risk of harm, and
/// only with those who must act on that risk.
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

    func applyingConsent(to decision: RoutingDecision, for referral: Referral) -> RoutingDecision {
        guard let reason = consentRestriction(referral) else { return decision }
        let recipients = Set(directory.agencies.filter(\.safeguardingRecipient).map(\.id))
        var restricted = decision
        restricted.targets = []
        for target in decision.targets {
            guard recipients.contains(target.agency) else {
                restricted.withheld.append(.init(agency: target.agency, rule: target.rule, reason: reason))
                continue
            }
            var kept = target
            // A later re-route must pass the same rule: only recipients may be tried next.
            kept.alternatives = target.alternatives.filter(recipients.contains)
            restricted.targets.append(kept)
        }
        if restricted.targets.isEmpty {
            // With no safeguarding recipient configured, the rules' own fallback is the one place it may go.
            let agency = safeguardingFallback ?? fallback
            let rule = safeguardingFallback == nil ? Self.fallbackRuleId : Self.safeguardingFallbackRuleId
            restricted.targets = [.init(agency: agency, rule: rule, alternatives: [])]
            restricted.usedFallback = true
            restricted.withheld.removeAll { $0.agency == agency }
        }
        return restricted
    }

    /// `safeguarding_fallback`: required once any agency is a safeguarding recipient, and must be one.
    static func checkSafeguardingFallback(_ node: Node?, top: Node?, agencies: AgencyDirectory, reader: ConfigReader) -> String? {
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
        guard let agency = reader.string(node, "safeguarding_fallback") else { return nil }
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
