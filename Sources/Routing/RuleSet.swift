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
    public var routeTo: [String]
    /// Services (need codes): the agency offering it whose coverage holds the subject's postcode,
    /// the most specific coverage first.
    public var routeToService: [String]
    /// Agencies to try, in order, when a target declines.
    public var alternatives: [String]
    /// When true, no later rule is considered once this one matches.
    public var stop: Bool
    /// The needs this rule routes for: those its condition names (not under `not`) and its services.
    /// An agency it chose receives only these of a referral's needs, unless it takes all.
    public var namedNeeds: Set<String> = []
}

/// What the rules decided for one referral.
public struct RoutingDecision: Sendable, Equatable {
    public struct Target: Sendable, Equatable {
        public var agency: String
        public var rule: String
        /// Ordered agencies to re-route to if this one declines.
        public var alternatives: [String]
        /// The referral's needs that routed it here, in its order; nil for all of them.
        public var needs: [String]? = nil
    }

    public var rulesVersion: String
    /// Every agency once, in rule order.
    public var targets: [Target]
    /// The ids of the rules that matched, in order.
    public var matchedRules: [String]
    /// True when no rule matched and the fallback agency was chosen (or, for a referral shared
    /// without consent, when no safeguarding recipient matched and its fallback was chosen).
    public var usedFallback: Bool
    /// Agencies the rules chose that may not receive this referral, and why (consent).
    public var withheld: [Withheld] = []
    /// True when the subject lives outside the service area: the rules were not applied.
    public var outOfArea = false

    /// An agency a referral was kept from.
    public struct Withheld: Sendable, Equatable {
        public var agency: String
        public var rule: String
        /// Why, in words an audit trail can carry: `consent refused`.
        public var reason: String

        public init(agency: String, rule: String, reason: String) {
            self.agency = agency
            self.rule = rule
            self.reason = reason
        }
    }
}

/// How one rule fared for one referral, for `rules test`.
public struct RuleTrace: Sendable, Equatable {
    public var rule: String
    /// Nil when it matched; otherwise the part of its condition that failed.
    public var failure: String?
    /// The agencies it chose, when it matched.
    public var agencies: [String]
    /// True when an earlier matching rule had `stop: true`, so this one was not considered.
    public var skipped: Bool
}

/// The rules of `config/rules.yaml`: validated in full, then evaluated in order.
public struct RuleSet: Sendable, Equatable {
    public let rules: [Rule]
    public let fallback: String
    /// A digest of the file's text: the same rules always carry the same version.
    public let version: String
    /// The text the rules were read from, comments and all: what `GET /v1/rules` returns and what
    /// a change is compared with.
    public let text: String
    /// The agencies the rules were validated against, for the service directory.
    public let directory: AgencyDirectory
    /// Where a referral shared without consent goes when no safeguarding recipient matched; nil
    /// when no agency is a safeguarding recipient.
    public let safeguardingFallback: String?
    /// The places this deployment serves, and what happens to a referral from elsewhere; nil to
    /// route every referral by the rules.
    public let serviceArea: ServiceArea?
    /// The local authorities (GSS codes) named by a rule, the service area or an agency's
    /// coverage. When there are any, routing needs the postcode directory's answer for the
    /// referral's postcode, and the rules cannot go live until a directory is imported.
    public let localAuthorities: Set<String>
    /// The bank holidays (`YYYY-MM-DD`) time windows and working-time deadlines treat as closed.
    public let bankHolidays: Set<String>
    /// Which needs require the person's consent before a referral is shared.
    let vocabulary: NeedsVocabulary
    private let index: RuleIndex

    init(
        rules: [Rule], fallback: String, safeguardingFallback: String?, version: String, text: String, directory: AgencyDirectory,
        vocabulary: NeedsVocabulary, serviceArea: ServiceArea? = nil, bankHolidays: Set<String> = []
    ) {
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
    /// one trying every rule in order would give.
    ///
    /// - Parameter localAuthorities: the GSS codes the postcode directory gives the subject's
    ///   postcode; looked up only when the rules name a local authority (`namesLocalAuthorities`).
    public func route(_ referral: Referral, at receivedAt: Date = Date(), localAuthorities: Set<String> = []) -> RoutingDecision {
        if let outOfArea = outOfAreaDecision(for: referral, localAuthorities: localAuthorities) { return outOfArea }
        let input = RoutingInput(referral: referral, receivedAt: receivedAt, localAuthorities: localAuthorities)
        var decision = Decision()
        // Rules are read in place, never copied: a copy retains every field.
        for position in index.candidates(for: input) where rules[position].when.holds(input) {
            decision.take(rules[position], targets: targets(of: rules[position], for: input), needs: input.referral.needs)
            if rules[position].stop { break }
        }
        return applyingConsent(to: decision.finish(version: version, fallback: fallback), for: referral)
    }

    /// Routes by trying every rule in order, without the index: the reference `route` is tested
    /// against, and the baseline the rules benchmark measures it by.
    public func routeByScanning(_ referral: Referral, at receivedAt: Date = Date(), localAuthorities: Set<String> = []) -> RoutingDecision {
        if let outOfArea = outOfAreaDecision(for: referral, localAuthorities: localAuthorities) { return outOfArea }
        let input = RoutingInput(referral: referral, receivedAt: receivedAt, localAuthorities: localAuthorities)
        var decision = Decision()
        for position in rules.indices where rules[position].when.holds(input) {
            decision.take(rules[position], targets: targets(of: rules[position], for: input), needs: input.referral.needs)
            if rules[position].stop { break }
        }
        return applyingConsent(to: decision.finish(version: version, fallback: fallback), for: referral)
    }

    /// Routes a referral and says, rule by rule, what matched and what failed.
    public func explain(_ referral: Referral, at receivedAt: Date, localAuthorities: Set<String> = []) -> (RoutingDecision, [RuleTrace]) {
        if let outOfArea = outOfAreaDecision(for: referral, localAuthorities: localAuthorities) {
            return (outOfArea, rules.map { RuleTrace(rule: $0.id, failure: nil, agencies: [], skipped: true) })
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
        return (applyingConsent(to: decision.finish(version: version, fallback: fallback), for: referral), traces)
    }

    /// The agencies a matching rule sends to, each with the alternatives to try if it declines.
    private func targets(of rule: Rule, for input: RoutingInput) -> [(agency: String, alternatives: [String])] {
        var chosen: [(agency: String, alternatives: [String])] = rule.routeTo.map { ($0, rule.alternatives) }
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

        mutating func take(_ rule: Rule, targets chosen: [(agency: String, alternatives: [String])], needs: [String]) {
            matched.append(rule.id)
            let routedFor = rule.needsRoutedFor(needs)
            for (agency, alternatives) in chosen where !targets.contains(where: { $0.agency == agency }) {
                targets.append(.init(agency: agency, rule: rule.id, alternatives: alternatives.filter { $0 != agency }, needs: routedFor))
            }
        }

        func finish(version: String, fallback: String) -> RoutingDecision {
            guard targets.isEmpty else {
                return RoutingDecision(rulesVersion: version, targets: targets, matchedRules: matched, usedFallback: false)
            }
            return RoutingDecision(
                rulesVersion: version, targets: [.init(agency: fallback, rule: RuleSet.fallbackRuleId, alternatives: [])],
                matchedRules: matched, usedFallback: true)
        }
    }

    public static func load(path: String, agencies: AgencyDirectory, vocabulary: NeedsVocabulary) throws(ConfigError) -> RuleSet {
        let reader = ConfigReader(file: path)
        guard let text = readFile(path, reader: reader) else { throw ConfigError(issues: reader.issues) }
        return try parse(text, file: path, agencies: agencies, vocabulary: vocabulary)
    }

    /// Parses and validates rules text, reporting every problem with its line and column.
    public static func parse(
        _ text: String, file: String, agencies: AgencyDirectory, vocabulary: NeedsVocabulary
    ) throws(ConfigError) -> RuleSet {
        let reader = ConfigReader(file: file)
        let root = reader.compose(text)
        let top = reader.mapping(
            root, "the rules file", allowed: ["rules", "fallback", "safeguarding_fallback", "bank_holidays", "service_area", "out_of_area"],
            required: ["rules", "fallback"])
        var holidays: Set<String> = []
        for (date, node) in zip(reader.strings(top?["bank_holidays"], "bank_holidays") ?? [], listItems(top?["bank_holidays"])) {
            if CalendarDate.isValid(date) {
                holidays.insert(date)
            } else {
                reader.fail(node, "bank holiday '\(date)' is not a date", hint: "YYYY-MM-DD")
            }
        }
        let parser = ConditionParser(reader: reader, vocabulary: vocabulary, holidays: holidays)
        let knownAgencies = Set(agencies.agencies.map(\.id))
        func checkAgencies(_ node: Node?, _ what: String) -> [String] {
            guard let node, let ids = reader.strings(node, what) else { return [] }
            for (id, item) in zip(ids, listItems(node)) where !knownAgencies.contains(id) {
                reader.fail(item, "unknown agency '\(id)'", hint: "agencies.yaml defines: \(knownAgencies.sorted().joined(separator: ", "))")
            }
            return ids
        }
        var rules: [Rule] = []
        var ruleNodes: [Node] = []
        var ids: Set<String> = []
        for node in reader.sequence(top?["rules"], "rules") ?? [] {
            guard
                let entry = reader.mapping(
                    node, "a rule", allowed: ["id", "description", "when", "route_to", "route_to_service", "alternatives", "stop"],
                    required: ["id", "when"])
            else { continue }
            let id = reader.string(entry["id"], "id")
            if let id {
                if !isIdentifier(id) || id == fallbackRuleId || id == safeguardingFallbackRuleId {
                    reader.fail(
                        entry["id"], "rule id '\(id)' must be lower-case letters, digits and hyphens, and not 'fallback' or 'safeguarding-fallback'")
                }
                if !ids.insert(id).inserted {
                    reader.fail(entry["id"], "rule id '\(id)' is used twice", hint: "audit records name rules by id, so each must be unique")
                }
            }
            let description = entry["description"].flatMap { reader.string($0, "description") }
            let condition = parser.parse(entry["when"])
            let routeTo = checkAgencies(entry["route_to"], "route_to")
            var services: [String] = []
            if let node = entry["route_to_service"], let listed = reader.strings(node, "route_to_service") {
                for (service, item) in zip(listed, listItems(node)) {
                    if !vocabulary.codes.contains(service) {
                        reader.fail(
                            item, "unknown service '\(service)'", hint: "services are need codes: \(vocabulary.codes.joined(separator: ", "))")
                    } else if !agencies.agencies.contains(where: { $0.services.contains(service) }) {
                        reader.fail(item, "no agency offers '\(service)'", hint: "add it to an agency's services in agencies.yaml")
                    }
                }
                services = listed
            }
            if entry["route_to"] == nil, entry["route_to_service"] == nil {
                reader.fail(
                    node, "a rule needs route_to, route_to_service or both",
                    hint: "route_to names agencies; route_to_service names a service the directory places by postcode")
            }
            let alternatives = checkAgencies(entry["alternatives"], "alternatives")
            let stop = entry["stop"].flatMap { reader.bool($0, "stop") } ?? false
            if let id, let condition {
                var rule = Rule(
                    id: id, description: description, when: condition, routeTo: routeTo, routeToService: services,
                    alternatives: alternatives, stop: stop)
                rule.namedNeeds = condition.namedNeeds.union(services)
                rules.append(rule)
                ruleNodes.append(node)
            }
        }
        // A rule after a `stop` rule that matches everything it would is dead: say so.
        var stopRules: [Rule] = []
        for (index, rule) in rules.enumerated() {
            defer { if rule.stop { stopRules.append(rule) } }
            if let earlier = stopRules.first(where: { $0.when == .always || $0.when == rule.when }) {
                reader.fail(
                    ruleNodes[index],
                    "rule '\(rule.id)' can never match: the earlier rule '\(earlier.id)' has stop: true and matches every referral it would",
                    hint: "move it above '\(earlier.id)', or remove stop from '\(earlier.id)'")
            }
        }
        let fallback = reader.string(top?["fallback"], "fallback")
        if let fallback, !knownAgencies.contains(fallback) {
            reader.fail(
                top?["fallback"], "unknown agency '\(fallback)'", hint: "agencies.yaml defines: \(knownAgencies.sorted().joined(separator: ", "))")
        }
        let safeguardingFallback = checkSafeguardingFallback(top?["safeguarding_fallback"], top: root, agencies: agencies, reader: reader)
        let serviceArea = Self.serviceArea(top, agencies: knownAgencies, reader: reader)
        guard reader.issues.isEmpty, let fallback else { throw ConfigError(issues: reader.issues) }
        return RuleSet(
            rules: rules, fallback: fallback, safeguardingFallback: safeguardingFallback, version: version(of: text), text: text,
            directory: agencies, vocabulary: vocabulary, serviceArea: serviceArea, bankHolidays: holidays)
    }
}
