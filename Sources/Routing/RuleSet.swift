import Crypto
import Foundation
import ReferralModel
import Yams

/// A condition on a referral. A `when` mapping with several keys means all of them.
public indirect enum Condition: Sendable, Equatable {
    case all([Condition])
    case any([Condition])
    case not(Condition)
    /// The referral names at least one of these needs.
    case needsAny([String])
    case urgencyIn([Urgency])
    /// The subject's postcode starts with one of these areas, districts or sectors (`OX`, `OX1`, `OX1 2`).
    case postcodeIn([String])
    case safeguarding(Bool)
    case always

    func matches(_ referral: Referral) -> Bool {
        switch self {
        case .all(let conditions): conditions.allSatisfy { $0.matches(referral) }
        case .any(let conditions): conditions.contains { $0.matches(referral) }
        case .not(let condition): !condition.matches(referral)
        case .needsAny(let needs): needs.contains { referral.needs.contains($0) }
        case .urgencyIn(let levels): levels.contains(referral.urgency)
        case .postcodeIn(let prefixes):
            prefixes.contains { Postcode.prefixes(of: referral.subject.postcode).contains($0) }
        case .safeguarding(let flag): (referral.safeguarding ?? false) == flag
        case .always: true
        }
    }
}

/// One routing rule: when its condition holds, the referral goes to each agency in `routeTo`.
public struct Rule: Sendable, Equatable {
    public var id: String
    public var description: String?
    public var when: Condition
    public var routeTo: [String]
    /// When true, no later rule is considered once this one matches.
    public var stop: Bool
}

/// What the rules decided for one referral.
public struct RoutingDecision: Sendable, Equatable {
    public struct Target: Sendable, Equatable {
        public var agency: String
        public var rule: String
    }

    public var rulesVersion: String
    /// Every agency once, in rule order.
    public var targets: [Target]
    /// The ids of the rules that matched, in order.
    public var matchedRules: [String]
    /// True when no rule matched and the fallback agency was chosen.
    public var usedFallback: Bool
}

/// The rules of `config/rules.yaml`: validated in full, then evaluated in order.
public struct RuleSet: Sendable, Equatable {
    public let rules: [Rule]
    public let fallback: String
    /// A digest of the file's text: the same rules always carry the same version.
    public let version: String

    /// The rule id recorded when the fallback routes a referral.
    public static let fallbackRuleId = "fallback"

    public func route(_ referral: Referral) -> RoutingDecision {
        var targets: [RoutingDecision.Target] = []
        var matched: [String] = []
        for rule in rules where rule.when.matches(referral) {
            matched.append(rule.id)
            for agency in rule.routeTo where !targets.contains(where: { $0.agency == agency }) {
                targets.append(.init(agency: agency, rule: rule.id))
            }
            if rule.stop { break }
        }
        let usedFallback = targets.isEmpty
        if usedFallback { targets = [.init(agency: fallback, rule: Self.fallbackRuleId)] }
        return RoutingDecision(rulesVersion: version, targets: targets, matchedRules: matched, usedFallback: usedFallback)
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
        let parser = ConditionParser(reader: reader, vocabulary: vocabulary)
        let root = reader.compose(text)
        let top = reader.mapping(root, "the rules file", allowed: ["rules", "fallback"], required: ["rules", "fallback"])
        let knownAgencies = Set(agencies.agencies.map(\.id))
        func checkAgency(_ id: String, at node: Node?) {
            if !knownAgencies.contains(id) {
                reader.fail(node, "unknown agency '\(id)'", hint: "agencies.yaml defines: \(knownAgencies.sorted().joined(separator: ", "))")
            }
        }
        var rules: [Rule] = []
        var ids: Set<String> = []
        for node in reader.sequence(top?["rules"], "rules") ?? [] {
            guard
                let entry = reader.mapping(
                    node, "a rule", allowed: ["id", "description", "when", "route_to", "stop"], required: ["id", "when", "route_to"])
            else { continue }
            let id = reader.string(entry["id"], "id")
            if let id {
                if !isIdentifier(id) || id == fallbackRuleId {
                    reader.fail(entry["id"], "rule id '\(id)' must be lower-case letters, digits and hyphens, and not 'fallback'")
                }
                if !ids.insert(id).inserted { reader.fail(entry["id"], "rule id '\(id)' is used twice", hint: "audit records name rules by id, so each must be unique") }
            }
            let description = entry["description"].flatMap { reader.string($0, "description") }
            let condition = parser.parse(entry["when"])
            let routeTo = reader.strings(entry["route_to"], "route_to")
            if let routeTo, let node = entry["route_to"] {
                if routeTo.isEmpty { reader.fail(node, "route_to must name at least one agency") }
                let items: [Node] = if case .sequence(let sequence) = node { Array(sequence) } else { [node] }
                for (agency, item) in zip(routeTo, items) { checkAgency(agency, at: item) }
            }
            let stop = entry["stop"].flatMap { reader.bool($0, "stop") } ?? false
            if let id, let condition, let routeTo {
                rules.append(Rule(id: id, description: description, when: condition, routeTo: routeTo, stop: stop))
            }
        }
        let fallback = reader.string(top?["fallback"], "fallback")
        if let fallback { checkAgency(fallback, at: top?["fallback"]) }
        guard reader.issues.isEmpty, let fallback else { throw ConfigError(issues: reader.issues) }
        let digest = Hex.encode(SHA256.hash(data: Data(text.utf8)).prefix(6))
        return RuleSet(rules: rules, fallback: fallback, version: "sha256:" + digest)
    }
}

/// Reads `when` conditions.
struct ConditionParser {
    let reader: ConfigReader
    let vocabulary: NeedsVocabulary

    static let keys: Set<String> = ["all", "any", "not", "needs", "urgency", "postcode", "safeguarding", "always"]

    func parse(_ node: Node?) -> Condition? {
        guard let node else { return nil }
        guard let entries = reader.mapping(node, "a condition", allowed: Self.keys) else { return nil }
        if entries.isEmpty {
            reader.fail(node, "a condition needs at least one test", hint: "use 'always: true' for a rule that matches every referral")
            return nil
        }
        var parts: [Condition] = []
        var valid = true
        for key in entries.keys.sorted() {
            guard let value = entries[key], let part = parse(key: key, value) else {
                valid = false
                continue
            }
            parts.append(part)
        }
        guard valid else { return nil }
        return parts.count == 1 ? parts[0] : .all(parts)
    }

    private func parse(key: String, _ node: Node) -> Condition? {
        switch key {
        case "all", "any":
            guard let items = reader.sequence(node, key) else { return nil }
            if items.isEmpty { reader.fail(node, "'\(key)' needs at least one condition") }
            let conditions = items.compactMap { parse($0) }
            guard conditions.count == items.count else { return nil }
            return key == "all" ? .all(conditions) : .any(conditions)
        case "not":
            return parse(node).map { .not($0) }
        case "needs":
            guard let needs = reader.strings(node, "needs") else { return nil }
            let unknown = needs.filter { !vocabulary.codes.contains($0) }
            if !unknown.isEmpty {
                reader.fail(node, "unknown need \(unknown.map { "'\($0)'" }.joined(separator: ", "))", hint: "the vocabulary is: \(vocabulary.codes.joined(separator: ", "))")
                return nil
            }
            return .needsAny(needs)
        case "urgency":
            guard let levels = reader.strings(node, "urgency") else { return nil }
            let parsed = levels.compactMap(Urgency.init(rawValue:))
            if parsed.count != levels.count {
                reader.fail(node, "urgency must be routine, urgent or emergency")
                return nil
            }
            return .urgencyIn(parsed)
        case "postcode":
            guard let prefixes = reader.strings(node, "postcode") else { return nil }
            let normalised = prefixes.map { $0.uppercased() }
            for prefix in normalised where !isPostcodePrefix(prefix) {
                reader.fail(node, "'\(prefix)' is not a postcode area, district, sector or full postcode", hint: "for example OX, OX1, OX1 2 or OX1 2JD")
                return nil
            }
            return .postcodeIn(normalised)
        case "safeguarding":
            return reader.bool(node, "safeguarding").map { .safeguarding($0) }
        case "always":
            guard let flag = reader.bool(node, "always") else { return nil }
            return flag ? .always : .not(.always)
        default:
            return nil
        }
    }

    private func isPostcodePrefix(_ text: String) -> Bool {
        if let full = Postcode.normalise(text) { return full == text }
        let parts = text.split(separator: " ", omittingEmptySubsequences: false)
        let outward = String(parts[0])
        let outwardOK =
            (1...4).contains(outward.count) && outward.first?.isLetter == true
            && outward.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) }
        if parts.count == 1 { return outwardOK }
        return parts.count == 2 && outwardOK && parts[1].count == 1 && parts[1].first?.isNumber == true
    }
}
