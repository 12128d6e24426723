import Foundation
import ReferralModel
import Settings
import Yams

/// Reads `when` conditions, reporting every problem with its line.
struct ConditionParser {
    let reader: ConfigReader
    let vocabulary: NeedsVocabulary
    let holidays: Set<String>

    static let keys: Set<String> = [
        "all", "any", "not", "needs", "urgency", "postcode", "local_authority", "safeguarding", "always", "field", "equals", "in", "exists", "prefix",
        "contains", "matches", "age", "time",
    ]
    /// The fields a `field` condition may read.
    static let testableFields = ReferralField.allCases.filter { !ReferralField.identifying.contains($0) }.map(\.path).joined(separator: ", ")

    static let fieldOperators: Set<String> = ["equals", "in", "exists", "prefix", "contains", "matches"]

    func parse(_ node: Node?) -> Condition? {
        guard let node else { return nil }
        guard let entries = reader.mapping(node, "a condition", allowed: Self.keys) else { return nil }
        if entries.isEmpty {
            reader.fail(node, "a condition needs at least one test", hint: "use 'always: true' for a rule that matches every referral")
            return nil
        }
        var parts: [Condition] = []
        var valid = true
        let operators = entries.keys.filter(Self.fieldOperators.contains)
        if entries["field"] != nil || !operators.isEmpty {
            if let field = parseField(node, entries, operators: operators) { parts.append(field) } else { valid = false }
        }
        for key in entries.keys.sorted() where key != "field" && !Self.fieldOperators.contains(key) {
            guard let value = entries[key], let part = parse(key: key, value) else {
                valid = false
                continue
            }
            parts.append(part)
        }
        guard valid else { return nil }
        return parts.count == 1 ? parts[0] : .all(parts)
    }

    private func parseField(_ node: Node, _ entries: [String: Node], operators: [String]) -> Condition? {
        guard let pathNode = entries["field"] else {
            reader.fail(
                node, "'\(operators.sorted().joined(separator: "', '"))' tests a field: add 'field: PATH'",
                hint: "for example field: subject/preferredLanguage")
            return nil
        }
        guard let path = reader.string(pathNode, "field") else { return nil }
        guard let field = ReferralField(rawValue: path.hasPrefix("/") ? path : "/" + path) else {
            reader.fail(pathNode, "'\(path)' is not a referral field", hint: "fields: \(Self.testableFields)")
            return nil
        }
        guard !ReferralField.identifying.contains(field) else {
            reader.fail(
                pathNode,
                "rules may not test \(field.path): it identifies the person, and a rule's text is stored and shown to administrators",
                hint: field == .birthDate
                    ? "use age: { min, max } instead"
                    : "route on needs, urgency, postcode, age or safeguarding instead; fields a rule may test: \(Self.testableFields)")
            return nil
        }
        guard operators.count == 1, let name = operators.first, let value = entries[name] else {
            reader.fail(
                pathNode,
                operators.isEmpty
                    ? "a field test needs one of equals, in, exists, prefix, contains, matches"
                    : "a field test takes one operator; use all: for several",
                hint: "for example field: subject/preferredLanguage + in: [pl, ro]")
            return nil
        }
        switch name {
        case "equals": return reader.string(value, "equals").map { .field(field, .equals($0)) }
        case "in": return reader.strings(value, "in").map { .field(field, .oneOf($0)) }
        case "exists": return reader.bool(value, "exists").map { .field(field, .exists($0)) }
        case "prefix": return reader.string(value, "prefix").map { .field(field, .prefix($0)) }
        case "contains": return reader.string(value, "contains").map { .field(field, .contains($0)) }
        default:
            guard let source = reader.string(value, "matches") else { return nil }
            do {
                return .field(field, .matches(try RulePattern(source)))
            } catch {
                reader.fail(
                    value, "'\(source)' is not a pattern this gateway can run: \(error.message)",
                    hint:
                        "patterns run in linear time: literals, ., [classes], \\d \\w \\s, groups, |, * + ? {n,m}, ^ $ \\b, (?i); quote it in YAML, for example '^(pl|ro)$'"
                )
                return nil
            }
        }
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
                reader.fail(
                    node, "unknown need \(unknown.map { "'\($0)'" }.joined(separator: ", "))",
                    hint: "the vocabulary is: \(vocabulary.codes.joined(separator: ", "))")
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
            for prefix in normalised where !Postcode.isPrefix(prefix) {
                reader.fail(
                    node, "'\(prefix)' is not a postcode area, district, sector or full postcode", hint: "for example OX, OX1, OX1 2 or OX1 2JD")
                return nil
            }
            return .postcodeIn(normalised)
        case "local_authority":
            guard let codes = reader.strings(node, "local_authority") else { return nil }
            for code in codes {
                if let problem = OrganisationType.localAuthority.problem(with: code) {
                    reader.fail(node, "local_authority '\(code)' \(problem)", hint: "the GSS code the ONS Postcode Directory gives it")
                    return nil
                }
            }
            return .localAuthorityIn(codes)
        case "safeguarding":
            if case .scalar(let scalar) = node, scalar.string == "unknown" { return .safeguarding(nil) }
            guard case .scalar = node, let flag = node.bool else {
                reader.fail(node, "safeguarding must be true, false or unknown", hint: "unknown matches a referral that does not say")
                return nil
            }
            return .safeguarding(flag)
        case "always":
            guard let flag = reader.bool(node, "always") else { return nil }
            return flag ? .always : .not(.always)
        case "age":
            guard let entries = reader.mapping(node, "age", allowed: ["min", "max"]) else { return nil }
            let minimum = entries["min"].flatMap { reader.integer($0, "min", range: 0...150) }
            let maximum = entries["max"].flatMap { reader.integer($0, "max", range: 0...150) }
            if entries.isEmpty { reader.fail(node, "age needs min, max or both") }
            if let minimum, let maximum, minimum > maximum {
                reader.fail(node, "age min \(minimum) is above max \(maximum): no referral can match", hint: "swap them")
                return nil
            }
            return .age(min: minimum, max: maximum)
        case "time":
            return parseTime(node)
        default:
            return nil
        }
    }

    private func parseTime(_ node: Node) -> Condition? {
        guard let entries = reader.mapping(node, "time", allowed: ["days", "from", "to", "bank_holidays"], required: ["from", "to"])
        else { return nil }
        var days = Set(1...5)
        if let names = reader.strings(entries["days"], "days") {
            guard let named = WeeklyTime.days(names) else {
                let bad = names.first { WeeklyTime.days([$0]) == nil } ?? ""
                reader.fail(entries["days"], "'\(bad)' is not a day", hint: "monday … sunday, mon … sun, weekdays or weekends")
                return nil
            }
            days = named
        }
        let from = reader.string(entries["from"], "from").flatMap { text -> Int? in
            let value = WeeklyTime.minutes(text)
            if value == nil { reader.fail(entries["from"], "from '\(text)' is not a time of day", hint: "HH:MM, 24-hour, for example 09:00") }
            return value
        }
        let to = reader.string(entries["to"], "to").flatMap { text -> Int? in
            let value = WeeklyTime.minutes(text)
            if value == nil { reader.fail(entries["to"], "to '\(text)' is not a time of day", hint: "HH:MM, 24-hour, for example 17:00") }
            return value
        }
        var bank = TimeWindow.BankHolidays.exclude
        if let text = reader.string(entries["bank_holidays"], "bank_holidays") {
            guard let parsed = TimeWindow.BankHolidays(rawValue: text) else {
                reader.fail(entries["bank_holidays"], "bank_holidays must be exclude, only or include")
                return nil
            }
            bank = parsed
        }
        guard let from, let to else { return nil }
        if from == to {
            reader.fail(
                node, "the window from \(TimeWindow.clock(from)) to \(TimeWindow.clock(to)) is empty: no referral can match",
                hint: "for all day use from: \"00:00\" and to: \"24:00\"")
            return nil
        }
        if days.isEmpty, bank != .only {
            reader.fail(node, "the window has no days: no referral can match")
            return nil
        }
        if bank == .only, holidays.isEmpty {
            reader.fail(
                node, "bank_holidays: only, but the rules file lists no bank_holidays: no referral can match",
                hint: "add bank_holidays: [YYYY-MM-DD, …] at the top of the rules file")
            return nil
        }
        return .time(TimeWindow(days: days, from: from, to: to, bankHolidays: bank, holidays: holidays))
    }
}
