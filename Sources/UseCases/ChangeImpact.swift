import Foundation
import ReferralModel
import Routing
import Storage

/// What a proposed change of rules or agencies would have done to real traffic: every referral
/// stored for a period is routed again, as it was received (its facts and its time, no lane then
/// stopped), by the rules in force and by the proposed ones, and the two are compared. Nothing is
/// stored or sent. What it reports are agencies, codes, counts and referral ids: no free text.
public struct ChangeImpact: Sendable, Codable, Equatable {
    public var from: String
    public var to: String
    /// Referrals replayed.
    public var referrals: Int
    /// Referrals the change routes differently (another agency, or another outcome).
    public var changed: Int
    /// Per agency, the referrals it would gain and lose.
    public var agencies: [AgencyChange]
    /// Per outcome (to the fallback, withheld for consent or age, held out of area, a person told at
    /// intake), the referrals the change moves into it and out of it.
    public var outcomes: [OutcomeChange]

    public struct AgencyChange: Sendable, Codable, Equatable {
        public var agency: String
        /// Referrals routed to it by the rules in force, and by the proposed ones.
        public var before: Int
        public var after: Int
        public var gained: Int
        public var lost: Int
        /// A few of each, by referral id, oldest first.
        public var gainedExamples: [String]
        public var lostExamples: [String]
    }

    public struct OutcomeChange: Sendable, Codable, Equatable {
        public var outcome: String
        public var before: Int
        public var after: Int
        public var entering: Int
        public var leaving: Int
        public var enteringExamples: [String]
        public var leavingExamples: [String]
    }

    /// The outcomes a routing decision is counted under, besides the agencies it names.
    static func outcomes(of decision: RoutingDecision) -> Set<String> {
        var outcomes: Set<String> = []
        if decision.usedFallback { outcomes.insert("to the fallback") }
        if decision.withheld.contains(where: { $0.reason.contains("consent") }) { outcomes.insert("withheld for consent") }
        if decision.withheld.contains(where: { !$0.reason.contains("consent") }) { outcomes.insert("withheld for age") }
        if decision.outOfArea && decision.targets.isEmpty { outcomes.insert("held out of area") }
        if decision.attention != nil { outcomes.insert("a person told at intake") }
        if decision.targets.isEmpty && !decision.outOfArea { outcomes.insert("sent to no agency") }
        return outcomes
    }

    /// Replays the referrals received from `from` to `to` through `current` and `proposed`.
    /// - Parameters:
    ///   - examples: how many referral ids to give for each gain, loss and outcome moved.
    ///   - localAuthorities: the postcode directory, for rules that name local authorities.
    public static func replay(
        current: RuleSet, proposed: RuleSet, from: Date, to: Date, examples: Int = 5, store: any ReferralLoopStore,
        localAuthorities: @Sendable (String) async throws -> Set<String>
    ) async throws -> ChangeImpact {
        var tally = Tally(examples: examples)
        var after: ReferralID?
        let needsPlaces = current.namesLocalAuthorities || proposed.namesLocalAuthorities
        while true {
            let page = try await store.referralsReceived(from: from, to: to, after: after, limit: 500)
            guard let last = page.last else { break }
            after = last.referralId
            for stored in page {
                let places = needsPlaces ? try await localAuthorities(stored.referral.subject.postcode) : []
                let before = current.route(stored.referral, at: stored.receivedAt, localAuthorities: places)
                let now = proposed.route(stored.referral, at: stored.receivedAt, localAuthorities: places)
                tally.add(stored.referralId, before: before, after: now)
            }
        }
        return tally.impact(from: from, to: to)
    }

    private struct Tally {
        let examples: Int
        var referrals = 0
        var changed = 0
        var agencies: [String: (before: Int, after: Int, gained: [String], lost: [String], gainedCount: Int, lostCount: Int)] = [:]
        var outcomes: [String: (before: Int, after: Int, entering: [String], leaving: [String], enteringCount: Int, leavingCount: Int)] = [:]

        init(examples: Int) { self.examples = examples }

        mutating func add(_ id: ReferralID, before: RoutingDecision, after: RoutingDecision) {
            referrals += 1
            let was = Set(before.targets.map(\.agency.rawValue))
            let now = Set(after.targets.map(\.agency.rawValue))
            let wasOutcomes = ChangeImpact.outcomes(of: before)
            let nowOutcomes = ChangeImpact.outcomes(of: after)
            if was != now || wasOutcomes != nowOutcomes { changed += 1 }
            for agency in was.union(now) {
                var entry = agencies[agency] ?? (0, 0, [], [], 0, 0)
                if was.contains(agency) { entry.before += 1 }
                if now.contains(agency) { entry.after += 1 }
                if now.contains(agency) && !was.contains(agency) {
                    entry.gainedCount += 1
                    if entry.gained.count < examples { entry.gained.append(id.rawValue) }
                }
                if was.contains(agency) && !now.contains(agency) {
                    entry.lostCount += 1
                    if entry.lost.count < examples { entry.lost.append(id.rawValue) }
                }
                agencies[agency] = entry
            }
            for outcome in wasOutcomes.union(nowOutcomes) {
                var entry = outcomes[outcome] ?? (0, 0, [], [], 0, 0)
                if wasOutcomes.contains(outcome) { entry.before += 1 }
                if nowOutcomes.contains(outcome) { entry.after += 1 }
                if nowOutcomes.contains(outcome) && !wasOutcomes.contains(outcome) {
                    entry.enteringCount += 1
                    if entry.entering.count < examples { entry.entering.append(id.rawValue) }
                }
                if wasOutcomes.contains(outcome) && !nowOutcomes.contains(outcome) {
                    entry.leavingCount += 1
                    if entry.leaving.count < examples { entry.leaving.append(id.rawValue) }
                }
                outcomes[outcome] = entry
            }
        }

        func impact(from: Date, to: Date) -> ChangeImpact {
            ChangeImpact(
                from: Timestamp.minute(from), to: Timestamp.minute(to), referrals: referrals, changed: changed,
                agencies: agencies.keys.sorted().compactMap { agency in
                    agencies[agency].map {
                        AgencyChange(
                            agency: agency, before: $0.before, after: $0.after, gained: $0.gainedCount, lost: $0.lostCount, gainedExamples: $0.gained,
                            lostExamples: $0.lost)
                    }
                },
                outcomes: outcomes.keys.sorted().compactMap { outcome in
                    outcomes[outcome].map {
                        OutcomeChange(
                            outcome: outcome, before: $0.before, after: $0.after, entering: $0.enteringCount, leaving: $0.leavingCount,
                            enteringExamples: $0.entering, leavingExamples: $0.leaving)
                    }
                })
        }
    }
}

extension RulesAdministrator {
    /// What a proposed text of `document` (rules or agencies) would have done to the referrals
    /// received in the last `days` days, against what is live; nothing is stored or sent. A text
    /// that does not validate is refused as an apply would refuse it.
    public func impact(of text: String, document: GovernedDocument = .rules, days: Int = 30, examples: Int = 5) async throws -> ChangeImpact {
        let proposed = try prepare(text, for: document)
        let now = clock.now()
        return try await ChangeImpact.replay(
            current: live.current.rules, proposed: proposed, from: now.addingTimeInterval(-Double(days) * 86_400), to: now.addingTimeInterval(1),
            examples: examples, store: store, localAuthorities: { try await self.store.localAuthorities(of: $0) })
    }
}
