import Foundation

/// How often and how patiently deliveries to one agency are retried.
public struct RetryPolicy: Sendable, Equatable {
    /// Attempts in all, the first included, before the job is dead-lettered.
    public var maxAttempts: Int
    /// The base delay before the second attempt; each later base doubles, and the delay is drawn
    /// at random up to it (full jitter), so agencies recovering from an outage are not hit by
    /// every retry at once.
    public var initialBackoff: Double
    /// No delay grows beyond this, and neither does a `Retry-After` the agency asks for.
    public var maxBackoff: Double

    public init(maxAttempts: Int = 12, initialBackoff: Double = 2, maxBackoff: Double = 900) {
        self.maxAttempts = maxAttempts
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
    }

    /// An urgent referral's default: eight attempts, delays up to five minutes; given up within about ten.
    public static let urgent = RetryPolicy(maxAttempts: 8, initialBackoff: 5, maxBackoff: 300)
    /// An emergency's default: five attempts, delays of at most 10, 20, 40 and 60 s; given up within
    /// about two minutes, when the dead letter escalates to the next agency and a person.
    public static let emergency = RetryPolicy(maxAttempts: 5, initialBackoff: 10, maxBackoff: 60)

    /// The delay before attempt `attempt + 1`: full jitter, uniform in [0, base], never below 50 ms.
    public func backoff(afterAttempt attempt: Int, random: Double = Double.random(in: 0...1)) -> Double {
        let exponent = min(max(attempt - 1, 0), 30)
        let base = min(maxBackoff, initialBackoff * Double(1 << exponent))
        return max(min(0.05, base), base * random)
    }

    /// The delay before the next attempt: the backoff, or the agency's `Retry-After` when that is
    /// longer, capped at `maxBackoff`.
    public func delay(afterAttempt attempt: Int, retryAfter: Double?, random: Double = Double.random(in: 0...1)) -> Double {
        max(backoff(afterAttempt: attempt, random: random), min(retryAfter ?? 0, maxBackoff))
    }
}
