import Foundation

/// Local time in Europe/London, by arithmetic rather than through Foundation's calendar: intake and
/// routing need it for every referral, and the calendar costs more than the rest of an evaluation.
/// Summer time (BST, UTC+1) runs from 01:00 UTC on the last Sunday of March to 01:00 UTC on the
/// last Sunday of October, as it has since 1996; tests hold it to Foundation's Europe/London.
public struct LondonTime: Equatable, Sendable {
    /// The local date as days since 1970-01-01.
    public let day: Int
    public let year: Int
    public let month: Int
    public let dayOfMonth: Int
    /// ISO weekday, 1 = Monday … 7 = Sunday.
    public let weekday: Int
    /// Minutes after local midnight.
    public let minute: Int

    public init(_ instant: Date) {
        let utc = Int((instant.timeIntervalSince1970).rounded(.down))
        let utcYear = Self.civil(fromDay: Self.floorDivide(utc, 86_400)).year
        let local = utc + (Self.isSummerTime(utc, year: utcYear) ? 3_600 : 0)
        day = Self.floorDivide(local, 86_400)
        (year, month, dayOfMonth) = Self.civil(fromDay: day)
        minute = (local - day * 86_400) / 60
        // 1970-01-01 was a Thursday (ISO 4).
        weekday = ((day % 7 + 7) % 7 + 3) % 7 + 1
    }

    public static func isSummerTime(_ utc: Int, year: Int) -> Bool {
        let start = lastSunday(ofMonth: 3, year: year) * 86_400 + 3_600
        let end = lastSunday(ofMonth: 10, year: year) * 86_400 + 3_600
        return utc >= start && utc < end
    }

    /// The day number of the last Sunday of a 31-day month.
    public static func lastSunday(ofMonth month: Int, year: Int) -> Int {
        let last = dayNumber(year: year, month: month, day: 31)
        let weekdayFromSunday = ((last % 7 + 7) % 7 + 4) % 7  // 0 = Sunday
        return last - weekdayFromSunday
    }

    public static func floorDivide(_ a: Int, _ b: Int) -> Int { a >= 0 ? a / b : -((-a + b - 1) / b) }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    public static func dayNumber(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = floorDivide(y, 400)
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The date of a day number (civil_from_days).
    public static func civil(fromDay number: Int) -> (year: Int, month: Int, day: Int) {
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
    public static func dayNumber(ofDate text: String) -> Int? {
        guard CalendarDate.isValid(text), let (year, month, day) = fields(of: text) else { return nil }
        return dayNumber(year: year, month: month, day: day)
    }

    /// The numbers of a `YYYY-MM-DD` date (already validated: a referral's birth date), read
    /// without allocating.
    public static func fields(of text: String) -> (Int, Int, Int)? {
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
