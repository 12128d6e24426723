import Foundation
import ReferralModel
import Settings
import Yams

/// Reading rules.yaml: every problem at once, each with its line, column and a hint.
extension RuleSet {
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
            root, "the rules file",
            allowed: [
                "rules", "fallback", "safeguarding_fallback", "bank_holidays", "service_area", "out_of_area", "out_of_area_urgent",
                "children_fallback",
            ],
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
        func checkAgencies(_ node: Node?, _ what: String) -> [AgencyID] {
            guard let node, let ids = reader.strings(node, what)?.map(AgencyID.init) else { return [] }
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
        let fallback = reader.string(top?["fallback"], "fallback").map(AgencyID.init)
        if let fallback, !knownAgencies.contains(fallback) {
            reader.fail(
                top?["fallback"], "unknown agency '\(fallback)'", hint: "agencies.yaml defines: \(knownAgencies.sorted().joined(separator: ", "))")
        }
        let safeguardingFallback = checkSafeguardingFallback(top?["safeguarding_fallback"], top: root, agencies: agencies, reader: reader)
        let serviceArea = Self.serviceArea(top, agencies: knownAgencies, reader: reader)
        let outOfAreaUrgent = Self.outOfAreaUrgent(top, serviceArea: serviceArea, reader: reader)
        let childrenFallback = checkChildrenFallback(top?["children_fallback"], top: root, agencies: agencies, reader: reader)
        guard reader.issues.isEmpty, let fallback else { throw ConfigError(issues: reader.issues) }
        return RuleSet(
            rules: rules, fallback: fallback, safeguardingFallback: safeguardingFallback, version: version(of: text), text: text,
            directory: agencies, vocabulary: vocabulary, serviceArea: serviceArea, bankHolidays: holidays, childrenFallback: childrenFallback,
            outOfAreaUrgent: outOfAreaUrgent)
    }
}
