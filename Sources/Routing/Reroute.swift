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
    /// For an emergency or urgent referral, one whose people cannot act now is passed over while
    /// another can; when none can, the first that may receive it is chosen, with why it waits.
    /// - Parameters:
    ///   - alternatives: the alternatives kept for the delivery that ended.
    ///   - needs: the needs that delivery's agency was told of; the next one is told the same
    ///     (nil: all), except the fallback, which hears them all, as at first routing.
    ///   - tried: every agency that has or had the referral.
    ///   - lanes: the agencies whose lanes are stopped now.
    public func nextCandidate(
        for referral: Referral, rule: String, alternatives: [AgencyID], needs: [String]?, tried: Set<AgencyID>, at instant: Date = Date(),
        receivedAt: Date? = nil, lanes: LaneConditions = .none
    ) -> (target: RoutingDecision.Target, waits: String?)? {
        let eligibility = eligibility(of: referral, at: receivedAt ?? instant)
        func allowed(_ agency: AgencyID) -> Bool { !tried.contains(agency) && eligibility.mayReceive(agency) }
        var candidates: [RoutingDecision.Target] = []
        for (position, agency) in alternatives.enumerated() where allowed(agency) {
            candidates.append(
                .init(
                    agency: agency, rule: Self.rerouteRule(rule), alternatives: Array(alternatives[(position + 1)...]).filter(allowed), needs: needs))
        }
        if let last = lastResort(eligibility), !tried.contains(last.agency) {
            candidates.append(.init(agency: last.agency, rule: last.rule, alternatives: []))
        }
        guard let first = candidates.first else { return nil }
        guard Self.cannotWait(referral.urgency) else { return (first, nil) }
        if let ready = candidates.first(where: { whyCannotAct($0.agency, at: instant, lanes: lanes) == nil }) { return (ready, nil) }
        return (first, whyCannotAct(first.agency, at: instant, lanes: lanes).map { "\(first.agency) \($0)" })
    }
}
