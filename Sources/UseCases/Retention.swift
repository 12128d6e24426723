import Audit
import Foundation
import ReferralModel
import Settings
import Storage

/// The retention policy, run by the gateway itself: once a day at `run_at` (Europe/London), on one
/// gateway however many share the store (each day's run is claimed in the store), the personal
/// data of closed referrals old enough is removed and the run audited with its count. A gateway
/// that was not running at `run_at` runs that day's at its next start, unless another did.
public struct Retention: Sendable {
    let store: any SwitchboardStore
    let clock: any WallClock
    /// Nil: retention runs only by hand (`switchboard prune`).
    public let schedule: RetentionSchedule?
    /// Which gateway this is, as the run records it.
    let gateway: String

    public init(store: any SwitchboardStore, clock: any WallClock, schedule: RetentionSchedule?, gateway: String) {
        self.store = store
        self.clock = clock
        self.schedule = schedule
        self.gateway = gateway
    }

    static let london: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "Europe/London") ?? .gmt
        return calendar
    }()

    /// The day `date` falls on in London, `YYYY-MM-DD`.
    static func day(_ date: Date) -> String {
        let parts = london.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0)
    }

    /// The moment of `run_at` on the London day of `date`.
    func runTime(onDayOf date: Date) -> Date? {
        guard let schedule else { return nil }
        var parts = Self.london.dateComponents([.year, .month, .day], from: date)
        parts.hour = schedule.runAt.hour
        parts.minute = schedule.runAt.minute
        return Self.london.date(from: parts)
    }

    /// When the next run is due after `now`: today's `run_at` if it is still to come, else tomorrow's.
    public func nextRun(after now: Date) -> Date? {
        guard let today = runTime(onDayOf: now) else { return nil }
        if today > now { return today }
        return runTime(onDayOf: Self.london.date(byAdding: .day, value: 1, to: now) ?? now.addingTimeInterval(86_400))
    }

    /// Runs today's retention if its time has come and no gateway has run it; the run, or nil.
    @discardableResult
    public func runIfDue() async throws -> RetentionRun? {
        let now = clock.now()
        guard let schedule, let due = runTime(onDayOf: now), now >= due else { return nil }
        let day = Self.day(now)
        if try await !store.claimRetentionRun(day: day, gateway: gateway, at: now) {
            // Another gateway has it, or this one stopped part-way: only an unfinished run of its own is resumed.
            guard let last = try await store.lastRetentionRun(), last.day == day, last.gateway == gateway, last.finishedAt == nil else { return nil }
        }
        let policy = RetentionPolicy(
            receivedBefore: now.addingTimeInterval(-Double(schedule.closedAfterDays) * 86_400),
            acceptedBefore: schedule.acceptedAfterDays.map { now.addingTimeInterval(-Double($0) * 86_400) })
        let pruned = try await store.pruneClosedReferrals(policy, at: now) { count in
            AuditNarrative.referralsPruned(at: now, actor: "retention schedule (\(gateway))", count: count, before: policy.receivedBefore)
        }
        let finished = clock.now()
        try await store.finishRetentionRun(day: day, at: finished, pruned: pruned)
        return RetentionRun(day: day, gateway: gateway, startedAt: now, finishedAt: finished, pruned: pruned)
    }

    /// The newest run, as the console's audit page shows it.
    public func lastRun() async throws -> RetentionRun? { try await store.lastRetentionRun() }
}
