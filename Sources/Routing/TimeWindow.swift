import Foundation
import ReferralModel

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
    public var days: Set<Int>
    /// Minutes after local midnight; `to` is exclusive. A window with `from` after `to` runs overnight.
    public var from: Int
    public var to: Int
    public var bankHolidays: BankHolidays
    /// `YYYY-MM-DD` dates.
    public var holidays: Set<String>

    static let london: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "Europe/London") ?? .gmt
        return calendar
    }()

    static let dayNames = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]

    /// Whether `instant` falls in the window. An overnight window belongs to the day it starts on.
    public func contains(_ instant: Date) -> Bool {
        let parts = Self.london.dateComponents([.year, .month, .day, .hour, .minute, .weekday], from: instant)
        let minute = (parts.hour ?? 0) * 60 + (parts.minute ?? 0)
        let weekday = ((parts.weekday ?? 1) + 5) % 7 + 1  // Foundation: 1 = Sunday
        let date = String(format: "%04d-%02d-%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0)
        if from < to {
            return dayMatches(weekday, date) && minute >= from && minute < to
        }
        // Overnight: the evening part belongs to today, the early-morning part to yesterday.
        if minute >= from { return dayMatches(weekday, date) }
        if minute < to {
            guard let yesterday = Self.london.date(byAdding: .day, value: -1, to: instant) else { return false }
            let previous = Self.london.dateComponents([.year, .month, .day], from: yesterday)
            let previousDate = String(format: "%04d-%02d-%02d", previous.year ?? 0, previous.month ?? 0, previous.day ?? 0)
            return dayMatches(weekday == 1 ? 7 : weekday - 1, previousDate)
        }
        return false
    }

    private func dayMatches(_ weekday: Int, _ date: String) -> Bool {
        let holiday = holidays.contains(date)
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

    static func clock(_ minutes: Int) -> String { String(format: "%02d:%02d", minutes / 60, minutes % 60) }

    static func describe(_ instant: Date) -> String {
        let parts = london.dateComponents([.weekday, .hour, .minute], from: instant)
        let weekday = ((parts.weekday ?? 1) + 5) % 7
        return "\(dayNames[weekday].capitalized) \(clock((parts.hour ?? 0) * 60 + (parts.minute ?? 0))) Europe/London"
    }

    /// Parses `HH:MM` (00:00 to 24:00).
    static func minutes(_ text: String) -> Int? {
        let parts = text.split(separator: ":")
        guard parts.count == 2, parts[0].count == 2, parts[1].count == 2, let hours = Int(parts[0]), let minutes = Int(parts[1]),
            (0...24).contains(hours), (0...59).contains(minutes), hours * 60 + minutes <= 24 * 60
        else { return nil }
        return hours * 60 + minutes
    }
}
