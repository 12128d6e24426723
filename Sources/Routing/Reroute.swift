import Foundation
import ReferralModel
import Settings

/// Where a referral goes next when an agency declines it, misses its deadline or cannot be
/// reached: the alternatives routing kept for that delivery, in order, then the fallback; never an
/// agency that already has (or had) it; and only where the consent policy lets it go, exactly as
/// the first routing.
extension RuleSet {
    /// The rule a re-routed delivery records: the rule that chose the alternatives, and why it moved.
    public static func rerouteRule(_ rule: String) -> String { rule.hasSuffix(":alternative") ? rule : rule + ":alternative" }

    /// The next agency for `referral` after one of its deliveries ended, or nil when none is left.
    /// - Parameters:
    ///   - alternatives: the alternatives kept for the delivery that ended.
    ///   - needs: the needs that delivery's agency was told of; the next one is told the same
    ///     (nil: all), except the fallback, which hears them all, as at first routing.
    ///   - tried: every agency that has or had the referral.
    public func nextCandidate(for referral: Referral, rule: String, alternatives: [String], needs: [String]?, tried: Set<String>)
        -> RoutingDecision.Target?
    {
        let recipients = Set(directory.agencies.filter(\.safeguardingRecipient).map(\.id))
        let restricted = consentRestriction(referral) != nil
        func allowed(_ agency: String) -> Bool {
            directory[agency] != nil && !tried.contains(agency) && (!restricted || recipients.contains(agency))
        }
        if let position = alternatives.firstIndex(where: allowed) {
            return .init(
                agency: alternatives[position], rule: Self.rerouteRule(rule), alternatives: Array(alternatives[(position + 1)...]).filter(allowed),
                needs: needs)
        }
        let last = restricted ? (safeguardingFallback ?? fallback) : fallback
        guard allowed(last) else { return nil }
        return .init(
            agency: last, rule: restricted && safeguardingFallback != nil ? Self.safeguardingFallbackRuleId : Self.fallbackRuleId, alternatives: [])
    }
}
