import Foundation
import ReferralModel
import Settings

/// When an agency must have taken a referral on: from when it was routed to the agency, its
/// urgency's allowance in the agency's `acknowledge` settings (emergency in wall-clock minutes at
/// any time, urgent in working hours, routine in working days of eight hours), or the referral's own
/// `respondBy` when that is sooner: a `respondBy` next June never holds an emergency back. Working
/// time is Monday to Friday 09:00 to 17:00 Europe/London, the rules' bank holidays excepted.
public enum AcknowledgementDeadline {
    public static func due(
        urgency: Urgency, respondBy: String?, from start: Date, acknowledgement: Agency.Acknowledgement, bankHolidays: Set<String>
    ) -> Date {
        let allowance: Date =
            switch urgency {
            case .emergency: start.addingTimeInterval(acknowledgement.emergencyMinutes * 60)
            case .urgent: addingWorkingTime(acknowledgement.urgentWorkingHours * 3_600, to: start, closedDays: days(of: bankHolidays))
            case .routine: addingWorkingTime(Double(acknowledgement.routineWorkingDays) * workingDay, to: start, closedDays: days(of: bankHolidays))
            }
        guard let respondBy, let date = parse(respondBy) else { return allowance }
        return min(date, allowance)
    }

    static let opens = 9.0 * 3_600
    static let closes = 17.0 * 3_600
    static var workingDay: Double { closes - opens }

    /// The day numbers of `YYYY-MM-DD` dates: compared as numbers, not formatted as text each day.
    static func days(of dates: Set<String>) -> Set<Int> { Set(dates.compactMap(LondonTime.dayNumber(ofDate:))) }

    /// `seconds` of working time after `start`.
    static func addingWorkingTime(_ seconds: Double, to start: Date, closedDays: Set<Int>) -> Date {
        var remaining = seconds
        var utc = start.timeIntervalSince1970
        while true {
            let local = utc + offset(utc)
            let day = (local / 86_400).rounded(.down)
            let intoDay = local - day * 86_400
            if !isWorkingDay(Int(day), closedDays: closedDays) || intoDay >= closes {
                utc = londonToUTC((day + 1) * 86_400 + opens)
                continue
            }
            if intoDay < opens {
                utc = londonToUTC(day * 86_400 + opens)
                continue
            }
            let available = closes - intoDay
            if remaining <= available { return Date(timeIntervalSince1970: utc + remaining) }
            remaining -= available
            utc = londonToUTC((day + 1) * 86_400 + opens)
        }
    }

    /// Seconds Europe/London is ahead of UTC at `utc`.
    static func offset(_ utc: Double) -> Double {
        let seconds = Int(utc.rounded(.down))
        let year = LondonTime.civil(fromDay: LondonTime.floorDivide(seconds, 86_400)).year
        return LondonTime.isSummerTime(seconds, year: year) ? 3_600 : 0
    }

    /// The UTC instant of a London wall-clock time (seconds since 1970-01-01 local). Working hours
    /// never fall in a clock change (01:00 UTC on a Sunday), so one correction is exact.
    static func londonToUTC(_ local: Double) -> Double { local - offset(local - offset(local)) }

    static func isWorkingDay(_ day: Int, closedDays: Set<Int>) -> Bool {
        let weekday = ((day % 7 + 7) % 7 + 3) % 7 + 1  // ISO: 1 = Monday … 7 = Sunday
        return weekday <= 5 && !closedDays.contains(day)
    }

    /// An RFC 3339 time, as `respondBy` is written.
    public static func parse(_ text: String) -> Date? {
        Timestamp.parse(text)
    }
}
