import Foundation

/// The time of day as the gateway sees it, and a way to wait for a moment. Everything that
/// schedules (retries, leases, the dispatcher's sleep, deadlines) asks a clock rather than calling
/// `Date()`, so tests move time forward instead of sleeping.
public protocol WallClock: Sendable {
    /// The current time.
    func now() -> Date
    /// Returns once `deadline` has passed on this clock; throws if the task is cancelled first.
    func sleep(until deadline: Date) async throws
}

/// The system's clock: real time, real sleeps.
public struct SystemClock: WallClock {
    public init() {}

    public func now() -> Date { Date() }

    public func sleep(until deadline: Date) async throws {
        let seconds = deadline.timeIntervalSinceNow
        guard seconds > 0 else { return }
        try await Task.sleep(for: .seconds(seconds))
    }
}
