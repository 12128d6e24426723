import Foundation
import ReferralModel
import Yams

extension Agency {
    /// How long the agency has to take a referral on (accept or decline it) before it escalates,
    /// by urgency, and what escalation does. `acknowledge` in agencies.yaml; the defaults are the
    /// urgencies' own definitions. Working time is Monday to Friday, 09:00 to 17:00 Europe/London,
    /// the rules' bank holidays excepted. A referral's own `respondBy` replaces these.
    public struct Acknowledgement: Sendable, Equatable {
        /// What happens when a deadline passes, a delivery is dead-lettered, or every candidate declines.
        public enum WhenMissed: String, Sendable, Equatable {
            /// The next alternative routing kept for it (then the fallback); needs-attention when none is left.
            case reroute
            /// Straight to the attention list, for a person to decide.
            case attention
        }

        /// Emergency: wall-clock minutes, at any time of day.
        public var emergencyMinutes: Double
        public var urgentWorkingHours: Double
        public var routineWorkingDays: Int
        public var whenMissed: WhenMissed

        public init(emergencyMinutes: Double = 60, urgentWorkingHours: Double = 4, routineWorkingDays: Int = 2, whenMissed: WhenMissed = .reroute) {
            self.emergencyMinutes = emergencyMinutes
            self.urgentWorkingHours = urgentWorkingHours
            self.routineWorkingDays = routineWorkingDays
            self.whenMissed = whenMissed
        }
    }
}

extension AgencyDirectory {
    /// `acknowledge: {emergency_minutes, urgent_working_hours, routine_working_days, when_missed}`.
    static func acknowledgement(_ node: Node?, reader: ConfigReader) -> Agency.Acknowledgement {
        var acknowledgement = Agency.Acknowledgement()
        guard
            let entries = reader.mapping(
                node, "acknowledge", allowed: ["emergency_minutes", "urgent_working_hours", "routine_working_days", "when_missed"])
        else { return acknowledgement }
        acknowledgement.emergencyMinutes =
            reader.number(entries["emergency_minutes"], "emergency_minutes", range: 1...1_440) ?? acknowledgement.emergencyMinutes
        acknowledgement.urgentWorkingHours =
            reader.number(entries["urgent_working_hours"], "urgent_working_hours", range: 0.25...80) ?? acknowledgement.urgentWorkingHours
        acknowledgement.routineWorkingDays =
            reader.integer(entries["routine_working_days"], "routine_working_days", range: 1...30) ?? acknowledgement.routineWorkingDays
        if let text = reader.string(entries["when_missed"], "when_missed") {
            if let action = Agency.Acknowledgement.WhenMissed(rawValue: text) {
                acknowledgement.whenMissed = action
            } else {
                reader.fail(
                    entries["when_missed"], "when_missed must be reroute or attention, not '\(text)'",
                    hint: "reroute tries the next alternative, then needs-attention; attention goes straight to a person")
            }
        }
        return acknowledgement
    }
}
