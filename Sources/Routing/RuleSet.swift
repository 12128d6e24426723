import Crypto
import Foundation
import ReferralModel
import Settings
import Yams

/// One routing rule: when its condition holds, the referral goes to each agency in `routeTo` and
/// to the agency the service directory picks for each service in `routeToService`.
public struct Rule: Sendable, Equatable {
    public var id: String
    public var description: String?
    public var when: Condition
    public var routeTo: [AgencyID]
    /// Services (need codes): the agency offering it whose coverage holds the subject's postcode,
    /// the most specific coverage first.
    public var routeToService: [String]
    /// Agencies to try, in order, when a target declines.
    public var alternatives: [AgencyID]
    /// When true, no later rule is considered once this one matches.
    public var stop: Bool
    /// The needs this rule routes for: those its condition names (not under `not`) and its services.
    /// An agency it chose receives only these of a referral's needs, unless it takes all.
    public var namedNeeds: Set<String> = []
}

/// What the rules decided for one referral.
public struct RoutingDecision: Sendable, Equatable {
    /// An agency chosen, the rule that chose it, its alternatives (ordered agencies to re-route to
    /// if it declines) and the referral's needs that routed it there, in its order (nil for all).
    public typealias Target = RoutingTarget

    public var rulesVersion: String
    /// Every agency once, in rule order.
    public var targets: [Target]
    /// The ids of the rules that matched, in order.
    public var matchedRules: [String]
    /// True when no rule matched and the fallback agency was chosen (or, for a referral shared
    /// without consent, when no safeguarding recipient matched and its fallback was chosen).
    public var usedFallback: Bool
    /// Agencies the rules chose that may not receive this referral, and why (consent, age).
    public var withheld: [Withheld] = []
    /// True when the subject lives outside the service area: the rules were not applied.
    public var outOfArea = false
    /// Targets replaced because their people could not act now (an emergency or urgent referral
    /// and an agency paused, disabled, circuit-open or closed), and who acts instead.
    public var replaced: [Replacement] = []
    /// Why a person must look at this referral now, when routing alone cannot be trusted with it:
    /// held with nowhere to go, an agency that cannot act and nobody to act instead, an urgent
    /// referral from outside the area. Intake opens an attention item with it.
    public var attention: String?

    /// An agency a referral was kept from.
    public struct Withheld: Sendable, Equatable {
        public var agency: AgencyID
        public var rule: String
        /// Why, in words an audit trail can carry: `consent refused`, `aged 10; spa serves 18 and over`.
        public var reason: String

        public init(agency: AgencyID, rule: String, reason: String) {
            self.agency = agency
            self.rule = rule
            self.reason = reason
        }
    }

    /// A target that could not act now, and the agency that took its place.
    public struct Replacement: Sendable, Equatable {
        public var agency: AgencyID
        /// Who acts instead; already a target when it had the referral anyway.
        public var by: AgencyID
        /// `oxford-mh-crisis paused by ops (planned upgrade)`, `… closed (open mon,tue… 09:00–17:00 …)`.
        public var why: String

        public init(agency: AgencyID, by: AgencyID, why: String) {
            self.agency = agency
            self.by = by
            self.why = why
        }
    }
}

/// How one rule fared for one referral, for `rules test`.
public struct RuleTrace: Sendable, Equatable {
    public var rule: String
    /// Nil when it matched; otherwise the part of its condition that failed.
    public var failure: String?
    /// The agencies it chose, when it matched.
    public var agencies: [AgencyID]
    /// True when an earlier matching rule had `stop: true`, so this one was not considered.
    public var skipped: Bool
}

/// The rules of `config/rules.yaml`: validated in full, then evaluated in order.
public struct RuleSet: Sendable, Equatable {
    public let rules: [Rule]
    public let fallback: AgencyID
    /// A digest of the file's text: the same rules always carry the same version.
    public let version: String
    /// The text the rules were read from, comments and all: what `GET /v1/rules` returns and what
    /// a change is compared with.
    public let text: String
    /// The agencies the rules were validated against, for the service directory.
    public let directory: AgencyDirectory
    /// Where a referral shared without consent goes when no safeguarding recipient matched; nil
    /// when no agency is a safeguarding recipient.
    public let safeguardingFallback: AgencyID?
    /// The places this deployment serves, and what happens to a referral from elsewhere; nil to
    /// route every referral by the rules.
    public let serviceArea: ServiceArea?
    /// The local authorities (GSS codes) named by a rule, the service area or an agency's
    /// coverage. When there are any, routing needs the postcode directory's answer for the
    /// referral's postcode, and the rules cannot go live until a directory is imported.
    public let localAuthorities: Set<String>
    /// The bank holidays (`YYYY-MM-DD`) time windows and working-time deadlines treat as closed.
    public let bankHolidays: Set<String>
    /// Where a child's referral goes when nothing else may receive it; nil when no agency has an age range.
    public let childrenFallback: AgencyID?
    /// What an emergency or urgent referral from outside the service area does.
    public let outOfAreaUrgent: OutOfAreaUrgent
    /// Which needs require the person's consent before a referral is shared.
    let vocabulary: NeedsVocabulary
    private let index: RuleIndex

    init(
        rules: [Rule], fallback: AgencyID, safeguardingFallback: AgencyID?, version: String, text: String, directory: AgencyDirectory,
        vocabulary: NeedsVocabulary, serviceArea: ServiceArea? = nil, bankHolidays: Set<String> = [], childrenFallback: AgencyID? = nil,
        outOfAreaUrgent: OutOfAreaUrgent = .route
    ) {
        self.childrenFallback = childrenFallback
        self.outOfAreaUrgent = outOfAreaUrgent
        self.bankHolidays = bankHolidays
        self.serviceArea = serviceArea
        self.rules = rules
        self.fallback = fallback
        self.safeguardingFallback = safeguardingFallback
        self.version = version
        self.text = text
        self.directory = directory
        self.vocabulary = vocabulary
        index = RuleIndex(rules: rules)
        var named = Set(serviceArea?.localAuthorities ?? [])
        for rule in rules { named.formUnion(rule.when.localAuthorities) }
        for agency in directory.agencies { named.formUnion(agency.coverage.filter { !Postcode.isPrefix($0) }) }
        localAuthorities = named
    }

    /// True when routing reads the postcode directory.
    public var namesLocalAuthorities: Bool { !localAuthorities.isEmpty }

    /// The rule id recorded when the fallback routes a referral.
    public static let fallbackRuleId = "fallback"

    /// The version a rules text carries: `sha256:` and the first 12 hex digits of its SHA-256.
    public static func version(of text: String) -> String { DocumentVersion.of(text) }

    /// Routes a referral received at `receivedAt` (time windows and ages use it). Only the rules
    /// the index finds for the referral's needs and postcode are evaluated; the decision is the
    /// one trying every rule in order would give. Then who may receive it (consent, ages) and, for
    /// an emergency or urgent referral, who can act now (`lanes`, opening hours) decide the targets.
    ///
    /// - Parameter localAuthorities: the GSS codes the postcode directory gives the subject's
    ///   postcode; looked up only when the rules name a local authority (`namesLocalAuthorities`).
    /// - Parameter lanes: the agencies whose lanes are stopped now; none when routing only explains.
    public func route(
        _ referral: Referral, at receivedAt: Date = Date(), localAuthorities: Set<String> = [], lanes: LaneConditions = .none
    ) -> RoutingDecision {
        let decision: RoutingDecision
        if let outOfArea = outOfAreaDecision(for: referral, localAuthorities: localAuthorities) {
            decision = outOfArea
        } else {
            let input = RoutingInput(referral: referral, receivedAt: receivedAt, localAuthorities: localAuthorities)
            var building = Decision()
            // Rules are read in place, never copied: a copy retains every field.
            for position in index.candidates(for: input) where rules[position].when.holds(input) {
                building.take(rules[position], targets: targets(of: rules[position], for: input), needs: input.referral.needs)
                if rules[position].stop { break }
            }
            decision = building.finish(version: version, fallback: fallback)
        }
        return finishing(decision, for: referral, at: receivedAt, lanes: lanes)
    }

    /// Routes by trying every rule in order, without the index: the reference `route` is tested
    /// against, and the baseline the rules benchmark measures it by.
    public func routeByScanning(_ referral: Referral, at receivedAt: Date = Date(), localAuthorities: Set<String> = []) -> RoutingDecision {
        if let outOfArea = outOfAreaDecision(for: referral, localAuthorities: localAuthorities) {
            return finishing(outOfArea, for: referral, at: receivedAt, lanes: .none)
        }
        let input = RoutingInput(referral: referral, receivedAt: receivedAt, localAuthorities: localAuthorities)
        var decision = Decision()
        for position in rules.indices where rules[position].when.holds(input) {
            decision.take(rules[position], targets: targets(of: rules[position], for: input), needs: input.referral.needs)
            if rules[position].stop { break }
        }
        return finishing(decision.finish(version: version, fallback: fallback), for: referral, at: receivedAt, lanes: .none)
    }

    /// Routes a referral and says, rule by rule, what matched and what failed.
    public func explain(
        _ referral: Referral, at receivedAt: Date, localAuthorities: Set<String> = [], lanes: LaneConditions = .none
    ) -> (RoutingDecision, [RuleTrace]) {
        if let outOfArea = outOfAreaDecision(for: referral, localAuthorities: localAuthorities) {
            return (
                finishing(outOfArea, for: referral, at: receivedAt, lanes: lanes),
                rules.map { RuleTrace(rule: $0.id, failure: nil, agencies: [], skipped: true) }
            )
        }
        let input = RoutingInput(referral: referral, receivedAt: receivedAt, localAuthorities: localAuthorities)
        var decision = Decision()
        var traces: [RuleTrace] = []
        var stopped = false
        for rule in rules {
            if stopped {
                traces.append(RuleTrace(rule: rule.id, failure: nil, agencies: [], skipped: true))
                continue
            }
            if let failure = rule.when.failure(input) {
                traces.append(RuleTrace(rule: rule.id, failure: failure, agencies: [], skipped: false))
                continue
            }
            let chosen = targets(of: rule, for: input)
            decision.take(rule, targets: chosen, needs: input.referral.needs)
            traces.append(RuleTrace(rule: rule.id, failure: nil, agencies: chosen.map(\.agency), skipped: false))
            if rule.stop { stopped = true }
        }
        return (finishing(decision.finish(version: version, fallback: fallback), for: referral, at: receivedAt, lanes: lanes), traces)
    }

    /// What the rules chose, made safe: only those who may receive it, and for an emergency or
    /// urgent referral only those who can act now.
    private func finishing(_ decision: RoutingDecision, for referral: Referral, at receivedAt: Date, lanes: LaneConditions) -> RoutingDecision {
        let eligibility = eligibility(of: referral, at: receivedAt)
        var result = applyingEligibility(to: decision, eligibility: eligibility)
        if Self.cannotWait(referral.urgency) {
            result = replacingUnavailable(in: result, eligibility: eligibility, at: receivedAt, lanes: lanes)
            if result.outOfArea, outOfAreaUrgent == .attention, result.attention == nil {
                result.attention = "\(referral.urgency.rawValue) referral for someone outside the service area"
            }
        }
        return result
    }

    /// The agencies a matching rule sends to, each with the alternatives to try if it declines.
    private func targets(of rule: Rule, for input: RoutingInput) -> [(agency: AgencyID, alternatives: [AgencyID])] {
        var chosen: [(agency: AgencyID, alternatives: [AgencyID])] = rule.routeTo.map { ($0, rule.alternatives) }
        for service in rule.routeToService {
            let offering = directory.offering(service, covering: input.referral.subject.postcode, in: input.localAuthorities).map(\.id)
            if let first = offering.first { chosen.append((first, Array(offering.dropFirst()) + rule.alternatives)) }
        }
        return chosen
    }

    /// A decision being built rule by rule: every agency once, in rule order.
    private struct Decision {
        var targets: [RoutingDecision.Target] = []
        var matched: [String] = []

        mutating func take(_ rule: Rule, targets chosen: [(agency: AgencyID, alternatives: [AgencyID])], needs: [String]) {
            matched.append(rule.id)
            let routedFor = rule.needsRoutedFor(needs)
            for (agency, alternatives) in chosen where !targets.contains(where: { $0.agency == agency }) {
                targets.append(.init(agency: agency, rule: rule.id, alternatives: alternatives.filter { $0 != agency }, needs: routedFor))
            }
        }

        func finish(version: String, fallback: AgencyID) -> RoutingDecision {
            guard targets.isEmpty else {
                return RoutingDecision(rulesVersion: version, targets: targets, matchedRules: matched, usedFallback: false)
            }
            return RoutingDecision(
                rulesVersion: version, targets: [.init(agency: fallback, rule: RuleSet.fallbackRuleId, alternatives: [])],
                matchedRules: matched, usedFallback: true)
        }
    }
}
