import Foundation
import Yams

/// `retention`: the retention policy, run by the gateway itself once a day at `run_at`
/// (Europe/London): the personal data of referrals closed and received more than
/// `closed_after_days` ago is removed; a referral accepted and never completed counts as closed
/// once its acceptance is `accepted_after_days` old.
public struct RetentionSchedule: Sendable, Equatable {
    public var closedAfterDays: Int
    /// Hour and minute, Europe/London.
    public var runAt: (hour: Int, minute: Int)
    public var acceptedAfterDays: Int?

    public init(closedAfterDays: Int, runAt: (hour: Int, minute: Int) = (2, 30), acceptedAfterDays: Int? = nil) {
        self.closedAfterDays = closedAfterDays
        self.runAt = runAt
        self.acceptedAfterDays = acceptedAfterDays
    }

    public static func == (left: Self, right: Self) -> Bool {
        left.closedAfterDays == right.closedAfterDays && left.runAt == right.runAt && left.acceptedAfterDays == right.acceptedAfterDays
    }

    /// `run_at` as written: `02:30`.
    public var runAtText: String { String(format: "%02d:%02d", runAt.hour, runAt.minute) }
}

extension SectionReader {
    func retention(_ node: Node?, legacyDays: Node?) -> RetentionSchedule? {
        guard let node else { return nil }
        guard
            let entries = reader.mapping(
                node, "retention", allowed: ["closed_after_days", "run_at", "accepted_after_days"], required: ["closed_after_days"])
        else { return nil }
        if legacyDays != nil {
            reader.fail(
                legacyDays, "retention_days and retention both say how long closed referrals are kept",
                hint: "keep retention: {closed_after_days: N, run_at: \"02:30\"} and remove retention_days")
        }
        guard let days = reader.integer(entries["closed_after_days"], "closed_after_days", range: 30...36_500) else { return nil }
        var schedule = RetentionSchedule(closedAfterDays: days)
        if let text = reader.string(entries["run_at"], "run_at") {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false).map { Int($0) }
            if parts.count == 2, let hour = parts[0], let minute = parts[1], (0...23).contains(hour), (0...59).contains(minute), text.count == 5 {
                schedule.runAt = (hour, minute)
            } else {
                reader.fail(entries["run_at"], "run_at '\(text)' is not a time of day", hint: "write it HH:MM, Europe/London, for example \"02:30\"")
            }
        }
        schedule.acceptedAfterDays = reader.integer(entries["accepted_after_days"], "accepted_after_days", range: 1...36_500)
        return schedule
    }
}
