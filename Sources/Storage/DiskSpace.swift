import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The free space on the disk that holds the database, against a reserve kept for work in hand.
/// Read with `statvfs`, at most once every quarter second.
final class DiskSpace: Sendable {
    let directory: String
    let reserve: Int64
    private let last = Mutex<(at: ContinuousClock.Instant, free: Int64)?>(nil)

    init(directory: String, reserve: Int64) {
        self.directory = directory
        self.reserve = reserve
    }

    /// Bytes free to an unprivileged writer, or nil when the disk cannot be asked.
    var free: Int64? {
        let now = ContinuousClock.now
        if let last = last.withLock({ $0 }), last.at.duration(to: now) < .milliseconds(250) { return last.free }
        var stats = statvfs()
        guard statvfs(directory, &stats) == 0 else { return nil }
        let free = Int64(stats.f_bavail) * Int64(stats.f_frsize)
        last.withLock { $0 = (now, free) }
        return free
    }

    /// Throws `StoreUnavailable` when the free space is under the reserve (or, with `atLeast`, under
    /// that much whatever the reserve).
    func requireReserve(atLeast minimum: Int64 = 0) throws(StoreUnavailable) {
        let needed = max(reserve, minimum)
        guard needed > 0, let free, free < needed else { return }
        if free < 1 << 20 { throw StoreUnavailable("the disk holding the database is full (\(free >> 10) KB free)") }
        throw StoreUnavailable(
            "the disk holding the database has \(free >> 20) MB free, under the reserve of \(needed >> 20) MB kept for work in hand")
    }
}
