import Foundation
import ReferralModel
import Settings

/// A weekly window of local time in Europe/London (GMT in winter, BST in summer), with bank
/// holidays from configuration: office hours, or by `not`, out of hours.
public struct TimeWindow: Sendable, Equatable {
    public enum BankHolidays: String, Sendable, Equatable {
        /// Bank holidays are outside the window whatever the day and hour.
        case exclude
        /// Only bank holidays are in the window (within its hours).
        case only
        /// Bank holidays are treated like any other day.
        case include
    }

    /// ISO weekdays, 1 = Monday … 7 = Sunday.
    public let days: Set<Int>
    /// Minutes after local midnight; `to` is exclusive. A window with `from` after `to` runs overnight.
    public let from: Int
    public let to: Int
    public let bankHolidays: BankHolidays
    /// `YYYY-MM-DD` dates.
    public let holidays: Set<String>
    /// The same dates as day numbers (days since 1970-01-01), for evaluation.
    private let holidayDays: Set<Int>

    public init(days: Set<Int>, from: Int, to: Int, bankHolidays: BankHolidays, holidays: Set<String>) {
        self.days = days
        self.from = from
        self.to = to
        self.bankHolidays = bankHolidays
        self.holidays = holidays
        holidayDays = Set(holidays.compactMap(LondonTime.dayNumber(ofDate:)))
    }

    static let london: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "Europe/London") ?? .gmt
        return calendar
    }()

    static let dayNames = WeeklyTime.dayNames

    /// Whether `instant` falls in the window. An overnight window belongs to the day it starts on.
    public func contains(_ instant: Date) -> Bool { contains(LondonTime(instant)) }

    func contains(_ local: LondonTime) -> Bool {
        if from < to {
            return dayMatches(local.weekday, local.day) && local.minute >= from && local.minute < to
        }
        // Overnight: the evening part belongs to today, the early-morning part to yesterday.
        if local.minute >= from { return dayMatches(local.weekday, local.day) }
        if local.minute < to { return dayMatches(local.weekday == 1 ? 7 : local.weekday - 1, local.day - 1) }
        return false
    }

    private func dayMatches(_ weekday: Int, _ day: Int) -> Bool {
        let holiday = holidayDays.contains(day)
        switch bankHolidays {
        case .exclude: return !holiday && days.contains(weekday)
        case .only: return holiday
        case .include: return days.contains(weekday)
        }
    }

    var summary: String {
        let names = days.sorted().map { String(Self.dayNames[$0 - 1].prefix(3)) }.joined(separator: ",")
        let bank = bankHolidays == .include ? "" : bankHolidays == .exclude ? ", not bank holidays" : ", bank holidays only"
        return "\(names) \(Self.clock(from))–\(Self.clock(to)) Europe/London\(bank)"
    }

    static func clock(_ minutes: Int) -> String { WeeklyTime.clock(minutes) }

    static func describe(_ instant: Date) -> String {
        let parts = london.dateComponents([.weekday, .hour, .minute], from: instant)
        let weekday = ((parts.weekday ?? 1) + 5) % 7
        return "\(dayNames[weekday].capitalized) \(clock((parts.hour ?? 0) * 60 + (parts.minute ?? 0))) Europe/London"
    }
}
