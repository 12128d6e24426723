import Foundation
import ReferralModel
import Settings

/// Urgency changes routing, not only deadlines: an emergency or urgent referral never waits on an
/// agency whose people cannot act now (its lane paused, disabled or circuit-open, or outside its
/// opening hours). Such a target is replaced at once: by the agency's out-of-hours cover when it is
/// closed, then by its rule's alternatives, then by the fallback, the first that may receive the
/// referral and can act. When none can, the target stays (its referral waits for it) and a person
/// is told. A routine referral waits for the agency as it always has.
extension RuleSet {
    func replacingUnavailable(
        in decision: RoutingDecision, eligibility: Eligibility, at instant: Date, lanes: LaneConditions
    ) -> RoutingDecision {
        var result = decision
        var targets: [RoutingDecision.Target] = []
        var waiting: [String] = []
        for target in decision.targets {
            guard let why = whyCannotAct(target.agency, at: instant, lanes: lanes) else {
                targets.append(target)
                continue
            }
            let stopped = "\(target.agency) \(why)"
            guard let stand = standIn(for: target, closed: why.hasPrefix("closed"), eligibility: eligibility, at: instant, lanes: lanes) else {
                targets.append(target)
                waiting.append(stopped)
                continue
            }
            // One that can act already has it: the stopped target is simply dropped.
            if !decision.targets.contains(where: { $0.agency == stand.agency }) { targets.append(stand) }
            result.replaced.append(.init(agency: target.agency, by: stand.agency, why: stopped))
        }
        result.targets = targets
        if !waiting.isEmpty {
            result.attention =
                "\(waiting.joined(separator: "; ")), and no one who may receive it can act now: it waits there"
        }
        return result
    }

    /// Who acts for `target` now: its out-of-hours cover (when it is closed), its alternatives in
    /// order, then the last resort; the first that may receive the referral and can act. One the
    /// referral already goes to counts, so it is not sent twice.
    private func standIn(
        for target: RoutingDecision.Target, closed: Bool, eligibility: Eligibility, at instant: Date, lanes: LaneConditions
    ) -> RoutingDecision.Target? {
        var candidates: [RoutingDecision.Target] = []
        if closed, let cover = directory[target.agency]?.outOfHours {
            candidates.append(.init(agency: cover, rule: target.rule + ":out-of-hours", alternatives: target.alternatives, needs: target.needs))
        }
        for (position, alternative) in target.alternatives.enumerated() {
            candidates.append(
                .init(
                    agency: alternative, rule: Self.rerouteRule(target.rule), alternatives: Array(target.alternatives[(position + 1)...]),
                    needs: target.needs))
        }
        if let last = lastResort(eligibility) { candidates.append(.init(agency: last.agency, rule: last.rule, alternatives: [])) }
        guard
            var found = candidates.first(where: { candidate in
                candidate.agency != target.agency && eligibility.mayReceive(candidate.agency)
                    && whyCannotAct(candidate.agency, at: instant, lanes: lanes) == nil
            })
        else { return nil }
        found.alternatives = found.alternatives.filter { $0 != found.agency && eligibility.mayReceive($0) }
        return found
    }
}
