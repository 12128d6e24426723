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

/// Local time in Europe/London, by arithmetic rather than through Foundation's calendar: routing
/// needs it for every referral, and the calendar costs more than the rest of an evaluation.
/// Summer time (BST, UTC+1) runs from 01:00 UTC on the last Sunday of March to 01:00 UTC on the
/// last Sunday of October, as it has since 1996; tests hold it to Foundation's Europe/London.
struct LondonTime: Equatable {
    /// The local date as days since 1970-01-01.
    let day: Int
    let year: Int
    let month: Int
    let dayOfMonth: Int
    /// ISO weekday, 1 = Monday … 7 = Sunday.
    let weekday: Int
    /// Minutes after local midnight.
    let minute: Int

    init(_ instant: Date) {
        let utc = Int((instant.timeIntervalSince1970).rounded(.down))
        let utcYear = Self.civil(fromDay: Self.floorDivide(utc, 86_400)).year
        let local = utc + (Self.isSummerTime(utc, year: utcYear) ? 3_600 : 0)
        day = Self.floorDivide(local, 86_400)
        (year, month, dayOfMonth) = Self.civil(fromDay: day)
        minute = (local - day * 86_400) / 60
        // 1970-01-01 was a Thursday (ISO 4).
        weekday = ((day % 7 + 7) % 7 + 3) % 7 + 1
    }

    static func isSummerTime(_ utc: Int, year: Int) -> Bool {
        let start = lastSunday(ofMonth: 3, year: year) * 86_400 + 3_600
        let end = lastSunday(ofMonth: 10, year: year) * 86_400 + 3_600
        return utc >= start && utc < end
    }

    /// The day number of the last Sunday of a 31-day month.
    static func lastSunday(ofMonth month: Int, year: Int) -> Int {
        let last = dayNumber(year: year, month: month, day: 31)
        let weekdayFromSunday = ((last % 7 + 7) % 7 + 4) % 7  // 0 = Sunday
        return last - weekdayFromSunday
    }

    static func floorDivide(_ a: Int, _ b: Int) -> Int { a >= 0 ? a / b : -((-a + b - 1) / b) }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    static func dayNumber(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = floorDivide(y, 400)
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The date of a day number (civil_from_days).
    static func civil(fromDay number: Int) -> (year: Int, month: Int, day: Int) {
        let z = number + 719_468
        let era = floorDivide(z, 146_097)
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// The day number of a valid `YYYY-MM-DD` date.
    static func dayNumber(ofDate text: String) -> Int? {
        guard CalendarDate.isValid(text), let (year, month, day) = fields(of: text) else { return nil }
        return dayNumber(year: year, month: month, day: day)
    }

    /// The numbers of a `YYYY-MM-DD` date (already validated: a referral's birth date), read
    /// without allocating.
    static func fields(of text: String) -> (Int, Int, Int)? {
        var parts = (0, 0, 0)
        var part = 0
        for byte in text.utf8 {
            if byte == UInt8(ascii: "-") {
                part += 1
                continue
            }
            guard byte >= 0x30, byte <= 0x39, part <= 2 else { return nil }
            let digit = Int(byte - 0x30)
            switch part {
            case 0: parts.0 = parts.0 * 10 + digit
            case 1: parts.1 = parts.1 * 10 + digit
            default: parts.2 = parts.2 * 10 + digit
            }
        }
        return part == 2 ? parts : nil
    }
}
