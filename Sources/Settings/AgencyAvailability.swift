import ReferralModel
import Yams

extension Agency {
    /// When an agency's people are there to act (`hours` in agencies.yaml), in Europe/London. An
    /// emergency or urgent referral is not left waiting on an agency that is closed: it goes to the
    /// agency's `out_of_hours` cover, then to its rule's alternatives. No hours: always open.
    public struct OpeningHours: Sendable, Equatable {
        /// ISO weekdays, 1 = Monday … 7 = Sunday.
        public var days: Set<Int>
        /// Minutes after local midnight; `to` is exclusive. `from` after `to` runs overnight.
        public var from: Int
        public var to: Int
        /// Whether the agency is closed on the rules' bank holidays.
        public var closedOnBankHolidays: Bool

        public init(days: Set<Int>, from: Int, to: Int, closedOnBankHolidays: Bool = true) {
            self.days = days
            self.from = from
            self.to = to
            self.closedOnBankHolidays = closedOnBankHolidays
        }
    }

    /// The ages, in whole years on the day of referral, an agency serves (`ages: {min, max}`): a
    /// referral for anyone else is never sent to it.
    public struct AgeRange: Sendable, Equatable {
        public var min: Int?
        public var max: Int?

        public init(min: Int? = nil, max: Int? = nil) {
            self.min = min
            self.max = max
        }

        public func contains(_ age: Int) -> Bool { (min.map { age >= $0 } ?? true) && (max.map { age <= $0 } ?? true) }

        /// `18 and over`, `up to 17`, `16 to 25`.
        public var words: String {
            switch (min, max) {
            case (let low?, let high?): "\(low) to \(high)"
            case (let low?, nil): "\(low) and over"
            case (nil, let high?): "up to \(high)"
            case (nil, nil): "any age"
            }
        }
    }
}

/// Days and times of day as agencies.yaml and rules.yaml write them.
public enum WeeklyTime {
    public static let dayNames = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]

    /// ISO weekday numbers for `monday … sunday`, `mon … sun`, `weekdays` or `weekends`; nil for a name that is none of these.
    public static func days(_ names: [String]) -> Set<Int>? {
        var days: Set<Int> = []
        for name in names {
            let lower = name.lowercased()
            if lower == "weekdays" {
                days.formUnion(1...5)
            } else if lower == "weekends" {
                days.formUnion(6...7)
            } else if let index = dayNames.firstIndex(where: { $0 == lower || $0.prefix(3) == lower }) {
                days.insert(index + 1)
            } else {
                return nil
            }
        }
        return days
    }

    /// `HH:MM` for minutes after midnight.
    public static func clock(_ minutes: Int) -> String {
        let hours = minutes / 60
        let rest = minutes % 60
        return (hours < 10 ? "0" : "") + "\(hours):" + (rest < 10 ? "0" : "") + "\(rest)"
    }

    /// Minutes after midnight for `HH:MM` (00:00 to 24:00).
    public static func minutes(_ text: String) -> Int? {
        let parts = text.split(separator: ":")
        guard parts.count == 2, parts[0].count == 2, parts[1].count == 2, let hours = Int(parts[0]), let minutes = Int(parts[1]),
            (0...24).contains(hours), (0...59).contains(minutes), hours * 60 + minutes <= 24 * 60
        else { return nil }
        return hours * 60 + minutes
    }
}

extension AgencyDirectory {
    /// `hours: {days, from, to, bank_holidays: closed | open}`.
    public static func openingHours(_ node: Node?, reader: ConfigReader) -> Agency.OpeningHours? {
        guard let node else { return nil }
        guard let entries = reader.mapping(node, "hours", allowed: ["days", "from", "to", "bank_holidays"], required: ["from", "to"]) else {
            return nil
        }
        var days = Set(1...5)
        if let names = reader.strings(entries["days"], "days") {
            guard let named = WeeklyTime.days(names), !named.isEmpty else {
                let bad = names.first { WeeklyTime.days([$0]) == nil }
                reader.fail(
                    entries["days"], bad.map { "'\($0)' is not a day" } ?? "hours name no days",
                    hint: "monday … sunday, mon … sun, weekdays or weekends")
                return nil
            }
            days = named
        }
        func time(_ key: String, example: String) -> Int? {
            guard let text = reader.string(entries[key], key) else { return nil }
            guard let minutes = WeeklyTime.minutes(text) else {
                reader.fail(entries[key], "\(key) '\(text)' is not a time of day", hint: "HH:MM, 24-hour, in quotes: \(key): \"\(example)\"")
                return nil
            }
            return minutes
        }
        let from = time("from", example: "09:00")
        let to = time("to", example: "17:00")
        var closed = true
        if let text = reader.string(entries["bank_holidays"], "bank_holidays") {
            switch text {
            case "closed": closed = true
            case "open": closed = false
            default:
                reader.fail(
                    entries["bank_holidays"], "bank_holidays must be closed or open, not '\(text)'",
                    hint: "closed: the rules file's bank_holidays are out of hours")
            }
        }
        guard let from, let to else { return nil }
        if from == to {
            reader.fail(
                node, "the hours from \(WeeklyTime.clock(from)) to \(WeeklyTime.clock(to)) are empty",
                hint: "for an agency open all day, leave hours out")
            return nil
        }
        return Agency.OpeningHours(days: days, from: from, to: to, closedOnBankHolidays: closed)
    }

    /// `ages: {min, max}` in whole years.
    static func ages(_ node: Node?, reader: ConfigReader) -> Agency.AgeRange? {
        guard let node else { return nil }
        guard let entries = reader.mapping(node, "ages", allowed: ["min", "max"]) else { return nil }
        let range = Agency.AgeRange(
            min: reader.integer(entries["min"], "min", range: 0...130), max: reader.integer(entries["max"], "max", range: 0...130))
        if range.min == nil, range.max == nil {
            reader.fail(node, "ages names neither min nor max", hint: "for example ages: {min: 18} for adults, or ages: {max: 17} for children")
            return nil
        }
        if let low = range.min, let high = range.max, low > high {
            reader.fail(node, "ages has min \(low) above max \(high)")
            return nil
        }
        return range
    }

    /// `retry: {emergency: {...}, urgent: {...}}`: a schedule per urgency.
    static func retrySchedule(_ node: Node?, _ key: String, default schedule: Agency.Retry.Schedule, reader: ConfigReader) -> Agency.Retry.Schedule {
        guard
            let entries = reader.mapping(node, key, allowed: ["max_attempts", "initial_backoff_seconds", "max_backoff_seconds"])
        else { return schedule }
        var result = schedule
        result.maxAttempts = reader.integer(entries["max_attempts"], "max_attempts", range: 1...1000) ?? schedule.maxAttempts
        result.initialBackoff =
            reader.number(entries["initial_backoff_seconds"], "initial_backoff_seconds", range: 0.01...86_400) ?? schedule.initialBackoff
        result.maxBackoff = reader.number(entries["max_backoff_seconds"], "max_backoff_seconds", range: 0.01...604_800) ?? schedule.maxBackoff
        if result.maxBackoff < result.initialBackoff {
            reader.fail(node, "max_backoff_seconds is smaller than initial_backoff_seconds")
        }
        return result
    }

    /// Checks what agencies name of each other: `out_of_hours` must be another agency, and the
    /// agency naming it must have hours (else it is never closed and the cover is never used).
    static func checkCover(_ agencies: [Agency], nodes: [String: Node], reader: ConfigReader) {
        let ids = Set(agencies.map(\.id))
        for agency in agencies {
            guard let cover = agency.outOfHours else { continue }
            let node = nodes[agency.id.rawValue]
            if cover == agency.id {
                reader.fail(node, "out_of_hours names the agency itself", hint: "name the team that acts while \(agency.id) is closed")
            } else if !ids.contains(cover) {
                reader.fail(
                    node, "out_of_hours names unknown agency '\(cover)'",
                    hint: "agencies defined: \(ids.sorted().map(\.rawValue).joined(separator: ", "))")
            }
            if agency.hours == nil {
                reader.fail(
                    node, "out_of_hours is set but the agency has no hours, so it is never closed",
                    hint: "add hours: {days: [mon, tue, wed, thu, fri], from: \"09:00\", to: \"17:00\"}")
            }
        }
    }
}
