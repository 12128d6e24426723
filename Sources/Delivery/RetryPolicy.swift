import Foundation

/// How often and how patiently deliveries to one agency are retried.
public struct RetryPolicy: Sendable, Equatable {
    /// Attempts in all, the first included, before the job is dead-lettered.
    public var maxAttempts: Int
    /// Delay before the second attempt; each later delay doubles, with jitter.
    public var initialBackoff: Double
    /// No delay grows beyond this, and neither does a `Retry-After` the agency asks for.
    public var maxBackoff: Double

    public init(maxAttempts: Int = 12, initialBackoff: Double = 2, maxBackoff: Double = 900) {
        self.maxAttempts = maxAttempts
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
    }

    /// The delay before attempt `attempt + 1`, full jitter in [base/2, base].
    public func backoff(afterAttempt attempt: Int, random: Double = Double.random(in: 0...1)) -> Double {
        let exponent = min(max(attempt - 1, 0), 30)
        let base = min(maxBackoff, initialBackoff * Double(1 << exponent))
        return base / 2 + base / 2 * random
    }

    /// The delay before the next attempt: the backoff, or the agency's `Retry-After` when that is
    /// longer, capped at `maxBackoff`.
    public func delay(afterAttempt attempt: Int, retryAfter: Double?, random: Double = Double.random(in: 0...1)) -> Double {
        max(backoff(afterAttempt: attempt, random: random), min(retryAfter ?? 0, maxBackoff))
    }
}
