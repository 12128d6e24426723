import Audit
import Foundation
import Logging
import Observability
import ReferralModel
import ServiceLifecycle
import Synchronization
import UseCases

/// Where refused authentications are counted. Each client address has an allowance of refusals
/// (`limits.refused_per_minute`); past it, a request with no valid key is answered 429 with
/// `Retry-After` without further work. A valid key is never held back by the address it comes
/// from, so a flood from a shared address does not lock out the people behind it.
///
/// Refusals are audited in bounded form: one event per address and minute, with counts by reason,
/// written when the minute is over (by the next refusal, by `RefusalAuditService` every few
/// seconds, and at shutdown). No path, query or key material is recorded. At most `maxSources`
/// addresses are counted apart in one minute; the rest are counted together.
public final class FrontDoor: Sendable {
    struct Window: Hashable, Comparable {
        var minute: Int64
        var source: String
        static func < (lhs: Window, rhs: Window) -> Bool { (lhs.minute, lhs.source) < (rhs.minute, rhs.source) }
    }

    struct Tally {
        var reasons: [String: Int] = [:]
        var limited = 0
    }

    static let maxSources = 1_000
    static let overflowSource = "other addresses"
    private let limiter: RateLimiter
    private let windows = Mutex<[Window: Tally]>([:])
    /// The earliest minute counted and not yet written: a refusal in the same minute finds nothing
    /// to flush without looking through every address counted.
    private let earliest = Atomic<Int64>(.max)
    private let auditTrail: AuditTrail
    private let clock: any WallClock
    private let logger: Logger
    private let metrics: GatewayMetrics?

    public init(refusedPerMinute: Double, auditTrail: AuditTrail, clock: any WallClock, logger: Logger, metrics: GatewayMetrics? = nil) {
        self.metrics = metrics
        limiter = RateLimiter(rate: refusedPerMinute / 60, burst: refusedPerMinute, clock: clock)
        self.auditTrail = auditTrail
        self.clock = clock
        self.logger = logger
    }

    /// Counts one refusal from `source`; the seconds to wait when the address is over its allowance.
    public func refuse(source: String, reason: String) -> Double? {
        let wait = limiter.delay(for: source)
        metrics?.authenticationRefused(reason: reason, limited: wait != nil)
        let minute = Int64((clock.now().timeIntervalSince1970 / 60).rounded(.down))
        windows.withLock { windows in
            var window = Window(minute: minute, source: source)
            if windows[window] == nil, windows.count >= Self.maxSources { window.source = Self.overflowSource }
            if windows[window] == nil { earliest.min(minute, ordering: .relaxed) }
            windows[window, default: Tally()].reasons[reason, default: 0] += 1
            if wait != nil { windows[window, default: Tally()].limited += 1 }
        }
        return wait
    }

    /// Writes one audit event for each address and minute that is over; every one when `all`.
    public func flush(all: Bool = false) async {
        let current = Int64((clock.now().timeIntervalSince1970 / 60).rounded(.down))
        guard all || earliest.load(ordering: .relaxed) < current else { return }
        let due = windows.withLock { windows -> [(Window, Tally)] in
            let due = windows.keys.filter { all || $0.minute < current }.sorted().compactMap { window in
                windows.removeValue(forKey: window).map { (window, $0) }
            }
            earliest.store(windows.keys.map(\.minute).min() ?? .max, ordering: .relaxed)
            return due
        }
        guard !due.isEmpty else { return }
        let now = clock.now()
        let events = due.map { window, tally in
            AuditNarrative.authenticationRefused(
                at: now, source: window.source, minuteStart: Date(timeIntervalSince1970: Double(window.minute) * 60),
                reasons: tally.reasons, limited: tally.limited)
        }
        do {
            try await auditTrail.record(events)
        } catch {
            logger.error("Refused authentications could not be audited", metadata: ["minutes": "\(due.count)", "error": "\(error)"])
        }
    }
}

/// Writes the front door's finished minutes every few seconds, and the rest at shutdown.
public struct RefusalAuditService: Service {
    let frontDoor: FrontDoor

    public init(frontDoor: FrontDoor) { self.frontDoor = frontDoor }

    public func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            // Woken by a shutdown, so stopping never waits out the five seconds.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(5)) }
            await frontDoor.flush()
        }
        await frontDoor.flush(all: true)
    }
}
