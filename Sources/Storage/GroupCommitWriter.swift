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

/// Every write to the database goes through here, on the group-commit engine both stores share
/// (`GroupCommit`): each write runs inside its own savepoint of the batch's one transaction, so a
/// write that fails rolls back alone; a commit that fails fails every write in it.
struct GroupCommitWriter: Sendable {
    /// Runs the write inside the transaction; returns what to tell its caller after the commit.
    typealias Job = @Sendable (Database, inout AuditCursor) -> GroupCommitAnswer

    private let engine: GroupCommit<Job>

    init(pool: DatabasePool) {
        engine = GroupCommit(maximumBatch: 512) { batch in
            try await pool.write { db in
                var cursor = try SQLiteStore.auditHead(db)
                let answers = batch.map { $0(db, &cursor) }
                try SQLiteStore.countHourly(cursor.hourly, in: db)
                return answers
            }
        }
    }

    /// Runs `work` in the next group transaction and returns its result once that has committed.
    func perform<Value: Sendable>(_ work: @escaping @Sendable (Database, inout AuditCursor) throws -> Value) async throws -> Value {
        try await engine.submit { (continuation: CheckedContinuation<Value, any Error>) -> Job in
            { db, cursor in
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
            }
        }
    }
}
