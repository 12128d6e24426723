import Foundation
import ReferralModel
import Routing
import Settings
import Yams

extension Scenario {
    /// Reads a scenario file, reporting every problem with its line, column and a hint.
    /// - Parameters:
    ///   - agencies: the agencies the configuration defines: a scenario naming another is refused.
    ///   - needs: the needs vocabulary's codes.
    ///   - bankHolidays: the rules' bank holidays, for agencies' hours.
    public static func load(path: String, agencies: Set<AgencyID>, needs: Set<String>, bankHolidays: Set<String>) throws(ConfigError) -> Scenario {
        let reader = ConfigReader(file: path)
        guard let text = readFile(path, reader: reader) else { throw ConfigError(issues: reader.issues) }
        return try parse(text, reader: reader, agencies: agencies, needs: needs, bankHolidays: bankHolidays)
    }

    static func parse(
        _ text: String, reader: ConfigReader, agencies: Set<AgencyID>, needs: Set<String>, bankHolidays: Set<String>
    ) throws(ConfigError) -> Scenario {
        guard let root = reader.compose(text),
            let top = reader.mapping(
                root, "the scenario", allowed: ["seed", "start", "days", "settle_days", "referrals", "agencies"],
                required: ["start", "days", "referrals"])
        else { throw ConfigError(issues: reader.issues) }
        let seed = reader.integer(top["seed"], "seed", range: 0...Int.max) ?? 1
        let start = top["start"].flatMap { node -> Date? in
            guard let text = reader.string(node, "start") else { return nil }
            guard let day = LondonTime.dayNumber(ofDate: text) else {
                reader.fail(node, "start must be a date, YYYY-MM-DD", hint: "for example start: \"2027-01-04\" (a Monday)")
                return nil
            }
            return Self.londonMidnight(day: day)
        }
        let days = reader.integer(top["days"], "days", range: 1...366)
        let settle = reader.integer(top["settle_days"], "settle_days", range: 0...60) ?? 14
        let referrals = top["referrals"].flatMap { readReferrals($0, reader: reader, needs: needs) }
        var behaviours: [AgencyID: AgencyBehaviour] = [:]
        if let node = top["agencies"], case .mapping(let mapping) = node {
            for (key, value) in mapping {
                guard let name = key.string else { continue }
                let agency = AgencyID(name)
                guard agencies.contains(agency) else {
                    reader.fail(
                        key, "agency '\(name)' is not in agencies.yaml",
                        hint: "the configuration defines: \(agencies.map(\.rawValue).sorted().joined(separator: ", "))")
                    continue
                }
                if let behaviour = readAgency(value, reader: reader, bankHolidays: bankHolidays) { behaviours[agency] = behaviour }
            }
        } else if let node = top["agencies"] {
            reader.fail(node, "agencies must be a mapping of agency ids to how each behaves")
        }
        guard reader.issues.isEmpty, let start, let days, let referrals else { throw ConfigError(issues: reader.issues) }
        return Scenario(
            seed: UInt64(seed), start: start, days: days, settleDays: settle, referrals: referrals, agencies: behaviours)
    }

    /// Midnight Europe/London at the start of local day `day` (days since 1970-01-01).
    static func londonMidnight(day: Int) -> Date {
        let utc = Date(timeIntervalSince1970: Double(day) * 86_400)
        // In summer time local midnight is 23:00 UTC the day before.
        return LondonTime(utc).minute == 0 ? utc : utc.addingTimeInterval(-3_600)
    }

    static let hourlyKeys = ["weekdays", "weekends", "all"] + WeeklyTime.dayNames

    private static func readReferrals(_ node: Node, reader: ConfigReader, needs vocabulary: Set<String>) -> Referrals? {
        guard
            let entries = reader.mapping(
                node, "referrals",
                allowed: ["hourly", "per_week", "needs", "second_need_percent", "urgency", "ages", "postcodes", "consent", "safeguarding_percent"],
                required: ["hourly", "needs"])
        else { return nil }
        var hourly: [Int: [Double]] = [:]
        if let profile = reader.mapping(entries["hourly"], "hourly", allowed: Set(hourlyKeys)) {
            // The broadest first, so a named day overrides weekdays and weekends, which override all.
            for key in hourlyKeys.sorted(by: { breadth($0) > breadth($1) }) {
                guard let node = profile[key] else { continue }
                guard let items = reader.sequence(node, "hourly.\(key)") else { continue }
                let rates = items.compactMap { reader.number($0, "each hour's rate", range: 0...100_000) }
                guard rates.count == 24 else {
                    if rates.count == items.count {
                        reader.fail(node, "hourly.\(key) has \(items.count) values, not 24", hint: "one mean rate for each hour from 00:00 to 23:00")
                    }
                    continue
                }
                for day in Self.days(of: key) { hourly[day] = rates }
            }
        }
        if let node = entries["per_week"], let wanted = reader.number(node, "per_week", range: 0...10_000_000) {
            let total = hourly.values.reduce(0) { $0 + $1.reduce(0, +) }
            if total > 0 { hourly = hourly.mapValues { $0.map { $0 * wanted / total } } }
        }
        let needs = weights(entries["needs"], "needs", reader: reader) { code, node -> String? in
            guard vocabulary.contains(code) else {
                reader.fail(
                    node, "need '\(code)' is not in switchboard.yaml's needs", hint: "the needs are: \(vocabulary.sorted().joined(separator: ", "))")
                return nil
            }
            return code
        }
        let urgency =
            weights(entries["urgency"], "urgency", reader: reader) { code, node -> Urgency? in
                guard let urgency = Urgency(rawValue: code) else {
                    reader.fail(node, "'\(code)' is not an urgency", hint: "emergency, urgent or routine")
                    return nil
                }
                return urgency
            } ?? [.init(.routine, 1)]
        let consent =
            weights(entries["consent"], "consent", reader: reader) { code, node -> ConsentStatus? in
                guard let status = ConsentStatus(rawValue: code), status != .bestInterests else {
                    reader.fail(node, "'\(code)' is not a consent status the simulation sends", hint: "given, refused or not-required")
                    return nil
                }
                return status
            } ?? [.init(.given, 1)]
        let postcodes =
            weights(entries["postcodes"], "postcodes", reader: reader) { code, node -> String? in
                guard Postcode.normalise(code) != nil else {
                    reader.fail(node, "'\(code)' is not a UK postcode", hint: "a full postcode, such as OX3 9DU")
                    return nil
                }
                return code
            } ?? [.init("OX3 9DU", 1)]
        var ages: [Weighted<ClosedRange<Int>>] = [.init(18...90, 1)]
        if let node = entries["ages"], let items = reader.sequence(node, "ages") {
            ages = items.compactMap { item in
                guard let band = reader.mapping(item, "each age band", allowed: ["min", "max", "weight"], required: ["min", "max", "weight"]),
                    let low = reader.integer(band["min"], "min", range: 0...120), let high = reader.integer(band["max"], "max", range: 0...120),
                    let weight = reader.number(band["weight"], "weight", range: 0...1_000_000)
                else { return nil }
                guard low <= high else {
                    reader.fail(item, "the age band's min \(low) is above its max \(high)")
                    return nil
                }
                return .init(low...high, weight)
            }
        }
        guard let needs else { return nil }
        return Referrals(
            hourly: hourly, needs: needs,
            secondNeedPercent: reader.number(entries["second_need_percent"], "second_need_percent", range: 0...100) ?? 0,
            urgency: urgency, ages: ages, postcodes: postcodes, consent: consent,
            safeguardingPercent: reader.number(entries["safeguarding_percent"], "safeguarding_percent", range: 0...100) ?? 0)
    }

    private static func breadth(_ key: String) -> Int { key == "all" ? 2 : key == "weekdays" || key == "weekends" ? 1 : 0 }

    private static func days(of key: String) -> [Int] {
        switch key {
        case "all": Array(1...7)
        case "weekdays": Array(1...5)
        case "weekends": [6, 7]
        default: (WeeklyTime.dayNames.firstIndex(of: key).map { [$0 + 1] }) ?? []
        }
    }

    private static func readAgency(_ node: Node, reader: ConfigReader, bankHolidays: Set<String>) -> AgencyBehaviour? {
        guard
            let entries = reader.mapping(
                node, "an agency's behaviour", allowed: ["accept", "decline", "answer_minutes", "hours", "capacity_per_day", "outages"])
        else { return nil }
        var behaviour = AgencyBehaviour(answers: [])
        let accept = reader.number(entries["accept"], "accept", range: 0...1_000_000) ?? (entries["decline"] == nil ? 1 : 0)
        if accept > 0 { behaviour.answers.append(.init(.accept, accept)) }
        let declines =
            weights(entries["decline"], "decline", reader: reader) { code, node -> DeclineReason? in
                guard let reason = DeclineReason(rawValue: code) else {
                    reader.fail(node, "'\(code)' is not a decline reason", hint: DeclineReason.allCases.map(\.rawValue).joined(separator: ", "))
                    return nil
                }
                return reason
            } ?? []
        behaviour.answers += declines.map { Weighted<Answer>(.decline($0.value), $0.weight) }
        if behaviour.answers.isEmpty {
            reader.fail(node, "the agency neither accepts nor declines", hint: "give accept a weight above 0, or decline reasons")
        }
        if let minutes = reader.mapping(entries["answer_minutes"], "answer_minutes", allowed: ["median", "p95"], required: ["median", "p95"]),
            let median = reader.number(minutes["median"], "median", range: 0.1...525_600),
            let p95 = reader.number(minutes["p95"], "p95", range: 0.1...525_600)
        {
            if p95 < median {
                reader.fail(entries["answer_minutes"], "answer_minutes.p95 (\(p95)) is below its median (\(median))")
            }
            behaviour.answerMedianMinutes = median
            behaviour.answerP95Minutes = max(p95, median)
        }
        if let hours = AgencyDirectory.openingHours(entries["hours"], reader: reader) {
            behaviour.hours = TimeWindow(
                days: hours.days, from: hours.from, to: hours.to, bankHolidays: hours.closedOnBankHolidays ? .exclude : .include,
                holidays: bankHolidays)
        }
        behaviour.capacityPerDay = reader.integer(entries["capacity_per_day"], "capacity_per_day", range: 0...1_000_000)
        if let items = reader.sequence(entries["outages"], "outages") {
            behaviour.outages = items.compactMap { readOutage($0, reader: reader) }
        }
        return behaviour
    }

    private static func readOutage(_ node: Node, reader: ConfigReader) -> Outage? {
        guard let entries = reader.mapping(node, "each outage", allowed: ["kind", "from", "hours"], required: ["kind", "from", "hours"]),
            let kindText = reader.string(entries["kind"], "kind"), let fromText = reader.string(entries["from"], "from"),
            let hours = reader.number(entries["hours"], "hours", range: 0.01...8_760)
        else { return nil }
        guard let kind = Outage.Kind(rawValue: kindText) else {
            reader.fail(entries["kind"], "'\(kindText)' is not a kind of outage", hint: "silent, unreachable or errors")
            return nil
        }
        guard let from = localTime(fromText) else {
            reader.fail(entries["from"], "from must be a local time, YYYY-MM-DDTHH:MM (Europe/London)", hint: "for example \"2027-01-09T08:00\"")
            return nil
        }
        return Outage(kind: kind, from: from, until: from.addingTimeInterval(hours * 3_600))
    }

    /// `YYYY-MM-DDTHH:MM` in Europe/London.
    static func localTime(_ text: String) -> Date? {
        let parts = text.split(separator: "T", omittingEmptySubsequences: false)
        guard parts.count == 2, let day = LondonTime.dayNumber(ofDate: String(parts[0])) else { return nil }
        let clock = parts[1].split(separator: ":")
        guard clock.count == 2, clock[0].count == 2, clock[1].count == 2, let hour = Int(clock[0]), let minute = Int(clock[1]),
            (0..<24).contains(hour), (0..<60).contains(minute)
        else { return nil }
        let midnight = londonMidnight(day: day)
        var instant = midnight.addingTimeInterval(Double(hour * 3_600 + minute * 60))
        // Across a change of the clocks the offset differs from midnight's.
        let local = LondonTime(instant)
        instant.addTimeInterval(Double((hour * 60 + minute) - local.minute) * 60)
        return instant
    }

    /// A mapping of choices to weights, each choice checked by `check`.
    private static func weights<Value>(
        _ node: Node?, _ what: String, reader: ConfigReader, check: (String, Node) -> Value?
    ) -> [Weighted<Value>]? {
        guard let node else { return nil }
        guard case .mapping(let mapping) = node else {
            reader.fail(node, "\(what) must be a mapping of choices to weights", hint: "for example \(what): {a: 70, b: 30}")
            return nil
        }
        var result: [Weighted<Value>] = []
        for (key, value) in mapping {
            guard let name = key.string, let checked = check(name, key),
                let weight = reader.number(value, "the weight of \(name)", range: 0...1_000_000)
            else { continue }
            result.append(.init(checked, weight))
        }
        if result.allSatisfy({ $0.weight == 0 }), !result.isEmpty {
            reader.fail(node, "every weight in \(what) is 0")
        }
        return result
    }
}
