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

    /// For one agency or outcome: the referrals that had it before and after, and those that gained or lost it.
    private struct Movement {
        var before = 0
        var after = 0
        var gained = 0
        var lost = 0
        var gainedExamples: [String] = []
        var lostExamples: [String] = []
    }

    private struct Tally {
        let examples: Int
        var referrals = 0
        var changed = 0
        var agencies: [String: Movement] = [:]
        var outcomes: [String: Movement] = [:]

        init(examples: Int) { self.examples = examples }

        mutating func add(_ id: ReferralID, before: RoutingDecision, after: RoutingDecision) {
            referrals += 1
            let was = Set(before.targets.map(\.agency.rawValue))
            let now = Set(after.targets.map(\.agency.rawValue))
            let wasOutcomes = ChangeImpact.outcomes(of: before)
            let nowOutcomes = ChangeImpact.outcomes(of: after)
            if was != now || wasOutcomes != nowOutcomes { changed += 1 }
            count(id.rawValue, was: was, now: now, into: &agencies)
            count(id.rawValue, was: wasOutcomes, now: nowOutcomes, into: &outcomes)
        }

        private func count(_ id: String, was: Set<String>, now: Set<String>, into table: inout [String: Movement]) {
            for key in was.union(now) {
                var entry = table[key] ?? Movement()
                if was.contains(key) { entry.before += 1 }
                if now.contains(key) { entry.after += 1 }
                if now.contains(key) && !was.contains(key) {
                    entry.gained += 1
                    if entry.gainedExamples.count < examples { entry.gainedExamples.append(id) }
                }
                if was.contains(key) && !now.contains(key) {
                    entry.lost += 1
                    if entry.lostExamples.count < examples { entry.lostExamples.append(id) }
                }
                table[key] = entry
            }
        }

        func impact(from: Date, to: Date) -> ChangeImpact {
            ChangeImpact(
                from: Timestamp.minute(from), to: Timestamp.minute(to), referrals: referrals, changed: changed,
                agencies: agencies.sorted { $0.key < $1.key }.map { agency, moved in
                    AgencyChange(
                        agency: agency, before: moved.before, after: moved.after, gained: moved.gained, lost: moved.lost,
                        gainedExamples: moved.gainedExamples, lostExamples: moved.lostExamples)
                },
                outcomes: outcomes.sorted { $0.key < $1.key }.map { outcome, moved in
                    OutcomeChange(
                        outcome: outcome, before: moved.before, after: moved.after, entering: moved.gained, leaving: moved.lost,
                        enteringExamples: moved.gainedExamples, leavingExamples: moved.lostExamples)
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
