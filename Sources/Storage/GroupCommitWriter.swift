import Audit
import Foundation
import GRDB

/// The audit chain's head as a write transaction sees it: read once per transaction, advanced in
/// memory as events are appended.
struct AuditCursor: Sendable {
    var sequence: Int64
    var hash: String
    /// The transaction's events counted by UTC hour and kind, added to `audit_hourly` once at its end.
    var hourly: [AuditHour: Int] = [:]
}

/// An hour (`2026-11-26T03`, as audit timestamps begin) and an event kind.
struct AuditHour: Hashable, Sendable {
    var hour: String
    var kind: String
}

/// Every write to the database goes through here, so writes share commits. While one transaction
/// commits, new writes queue; the next transaction takes all of them, each inside its own
/// savepoint, and commits once. One fsync then serves many referrals and delivery results, and an
/// idle store commits a single write at once. A write that fails rolls back alone; a commit that
/// fails fails every write in it.
actor GroupCommitWriter {
    private struct Job: Sendable {
        /// Runs the write inside the transaction; returns what to tell its caller after the commit.
        let run: @Sendable (Database, inout AuditCursor) -> @Sendable () -> Void
        /// Tells the caller the transaction did not commit.
        let fail: @Sendable (any Error) -> Void
    }

    private let pool: DatabasePool
    private var pending: [Job] = []
    private var flushing = false
    /// Bounds one transaction so a burst cannot hold the write lock for long.
    private let maximumBatch = 512

    init(pool: DatabasePool) {
        self.pool = pool
    }

    /// Runs `work` in the next group transaction and returns its result once that has committed.
    func perform<Value: Sendable>(_ work: @escaping @Sendable (Database, inout AuditCursor) throws -> Value) async throws -> Value {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Value, any Error>) in
            let job = Job(
                run: { db, cursor in
                    let before = cursor
                    let outcome: Result<Value, any Error>
                    do {
                        var value: Value?
                        try db.inSavepoint {
                            value = try work(db, &cursor)
                            return .commit
                        }
                        outcome = .success(value!)
                    } catch {
                        // The savepoint rolled the rows back; roll the chain head back with them.
                        cursor = before
                        outcome = .failure(error)
                    }
                    return { continuation.resume(with: outcome) }
                },
                fail: { error in continuation.resume(throwing: error) })
            pending.append(job)
            if !flushing {
                flushing = true
                Task { await self.flush() }
            }
        }
    }

    private func flush() async {
        while !pending.isEmpty {
            let batch = Array(pending.prefix(maximumBatch))
            pending.removeFirst(batch.count)
            do {
                let answers = try await pool.write { db in
                    var cursor = try SQLiteStore.auditHead(db)
                    let answers = batch.map { $0.run(db, &cursor) }
                    try SQLiteStore.countHourly(cursor.hourly, in: db)
                    return answers
                }
                for answer in answers { answer() }
            } catch {
                for job in batch { job.fail(error) }
            }
        }
        flushing = false
    }
}
