import Foundation
import Testing

@testable import ReferralModel

/// The date in Europe/London that intake works out by arithmetic agrees with the time zone
/// database: around every change of the clocks, at midnight either side, and across the years.
@Suite struct CalendarDateTests {
    @Test func theDateAroundEveryChangeOfTheClocksIsTheTimeZoneDatabasesDate() {
        for year in 1996...2099 {
            for month in [3, 10] {
                let change = Double(LondonTime.lastSunday(ofMonth: month, year: year) * 86_400 + 3_600)
                // The change itself, and the London midnights an hour either side of it.
                for offset in [-86_400.0, -3_601, -3_600, -1, 0, 1, 3_599, 3_600, 82_799, 82_800, 86_399] {
                    let instant = Date(timeIntervalSince1970: change + offset)
                    #expect(CalendarDate.string(from: instant) == CalendarDate.zoneString(from: instant), "at \(instant)")
                }
            }
        }
    }

    @Test func everyHourOfAYearAndASpreadOfInstantsAgreeWithTheTimeZoneDatabase() {
        let start = Date(timeIntervalSince1970: 1_767_225_600)  // 2026-01-01T00:00:00Z
        for hour in stride(from: 0, to: 366 * 24, by: 1) {
            let instant = start.addingTimeInterval(Double(hour) * 3_600 + 1_800)
            #expect(CalendarDate.string(from: instant) == CalendarDate.zoneString(from: instant))
        }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<5_000 {
            let instant = Date(timeIntervalSince1970: Double.random(in: 0..<5_000_000_000, using: &generator).rounded())
            #expect(CalendarDate.string(from: instant) == CalendarDate.zoneString(from: instant), "at \(instant)")
        }
    }

    @Test func aSummerEveningIsTheNextDayInLondonOnlyAfterMidnightThere() {
        // 23:30 UTC on 1 July is 00:30 BST on 2 July; 23:30 UTC on 1 December is still 1 December.
        #expect(CalendarDate.string(from: Date(timeIntervalSince1970: 1_782_948_600)) == "2026-07-02")
        #expect(CalendarDate.string(from: Date(timeIntervalSince1970: 1_796_167_800)) == "2026-12-01")
    }

    @Test func agesCountWholeYearsAndALeapDayBirthdayIsTheFirstOfMarch() {
        #expect(CalendarDate.age(birthDate: "2016-03-01", on: "2026-02-28") == 9)
        #expect(CalendarDate.age(birthDate: "2016-03-01", on: "2026-03-01") == 10)
        #expect(CalendarDate.age(birthDate: "2008-02-29", on: "2026-02-28") == 17)
        #expect(CalendarDate.age(birthDate: "2008-02-29", on: "2026-03-01") == 18)
        #expect(CalendarDate.age(birthDate: "2030-01-01", on: "2026-03-01") == 0)
        #expect(CalendarDate.age(birthDate: "2008-02-30", on: "2026-03-01") == nil)
    }
}
