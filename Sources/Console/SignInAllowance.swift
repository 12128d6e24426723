import Foundation
import Synchronization

/// Attempts per client address: `burst` at once, then `perMinute` more each minute, by the
/// gateway's clock.
final class SignInAllowance: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: Date
    }

    let burst: Double
    let perMinute: Double
    private let buckets = Mutex<[String: Bucket]>([:])

    init(burst: Double, perMinute: Double) {
        self.burst = burst
        self.perMinute = perMinute
    }

    /// Nil when `source` may try now (and the try is counted); else the seconds until it may.
    func take(for source: String, now: Date) -> Double? {
        buckets.withLock { buckets in
            if buckets.count > 10_000 { buckets = buckets.filter { now.timeIntervalSince($0.value.updated) < 3_600 } }
            var bucket = buckets[source] ?? Bucket(tokens: burst, updated: now)
            bucket.tokens = min(burst, bucket.tokens + max(0, now.timeIntervalSince(bucket.updated)) * perMinute / 60)
            bucket.updated = now
            defer { buckets[source] = bucket }
            guard bucket.tokens >= 1 else { return (1 - bucket.tokens) * 60 / perMinute }
            bucket.tokens -= 1
            return nil
        }
    }
}
