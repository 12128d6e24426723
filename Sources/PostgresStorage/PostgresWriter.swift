import Audit
import Foundation
import Logging
import PostgresNIO
import Storage
import Synchronization

/// Every write goes through here, so writes share commits, as with SQLite's group commit: while
/// one transaction runs, new writes queue, and the next transaction takes all of them. Referrals
/// without an idempotency key are stored together, a statement for all their referrals and one
/// for all their deliveries, so a batch costs a handful of round trips however many it holds.
/// Should any write in a batch fail, the batch is rolled back and run again carefully: each write
/// in a savepoint of its own, so the one that fails rolls back alone. A commit that fails fails
/// every write in it.
///
/// The audit events of the whole batch are appended last, after
/// `pg_advisory_xact_lock`: every gateway appending to the chain takes that one lock, reads the
/// chain's head and appends after it, and holds the lock until its commit. The lock is held only for
/// the appends and the commit, never for the batch's other statements.
///
/// A batch the database aborted to break a deadlock, or a serialisation failure, runs again
/// from the start, up to three times: its writes have not been told anything yet.
final class PostgresWriter: Sendable {
    struct Job: Sendable {
        /// Runs the write inside the transaction; returns what to tell its caller after the commit.
        let run: @Sendable (PostgresSession) async -> (error: (any Error)?, answer: GroupCommitAnswer)
        /// A referral that may be stored with the batch's others, and what to tell its caller then.
        var intake: (record: IntakeRecord, accepted: GroupCommitAnswer)?
    }

    /// A write in a batch failed: run the batch again, each write in a savepoint.
    private struct RunCarefully: Error {}

    /// What appending to the chain has cost, in nanoseconds (read by `/metrics` while writes go on).
    final class LockFigures: Sendable {
        let figures = Mutex<(appends: Int, waited: Int64, held: Int64)>((0, 0, 0))
    }

    /// The key of the advisory lock that serialises appends to the audit chain.
    static let auditChainLock: Int64 = 0x5357_4244_4155_4454

    /// The group-commit engine the SQLite store's writer runs on too.
    private let engine: GroupCommit<Job>
    let lockFigures = LockFigures()

    /// - Parameter limit: the longest one batch may take, from asking for a connection to its commit.
    init(client: PostgresClient, logger: Logger, connectTimeout: Duration, limit: Duration) {
        let batches = Batches(client: client, logger: logger, connectTimeout: connectTimeout, limit: limit, lockFigures: lockFigures)
        engine = GroupCommit(maximumBatch: 256) { batch in try await batches.commit(batch) }
    }

    func perform<Value: Sendable>(_ work: @escaping @Sendable (PostgresSession) async throws -> Value) async throws -> Value {
        try await engine.submit { continuation in Self.job(work, continuation) }
    }

    /// Stores a referral; without an idempotency claim, together with the batch's other referrals.
    func accept(_ record: IntakeRecord) async throws -> IntakeOutcome {
        try await engine.submit { (continuation: CheckedContinuation<IntakeOutcome, any Error>) in
            var job = Self.job({ session in try await PostgresStore.write(record, in: session) }, continuation)
            if record.idempotency == nil {
                let receipt = PostgresStore.receipt(record)
                job.intake = (record, { continuation.resume(returning: .accepted(receipt)) })
            }
            return job
        }
    }

    private static func job<Value: Sendable>(
        _ work: @escaping @Sendable (PostgresSession) async throws -> Value, _ continuation: CheckedContinuation<Value, any Error>
    ) -> Job {
        Job(run: { session in
            let outcome: Result<Value, any Error>
            do { outcome = .success(try await work(session)) } catch { outcome = .failure(error) }
            let error: (any Error)? = if case .failure(let error) = outcome { error } else { nil }
            return (error, { continuation.resume(with: outcome) })
        })
    }

    /// How a batch is written to PostgreSQL: in one transaction, the referrals together, the audit
    /// events last under the chain's lock; run again after a deadlock or serialisation failure.
    private struct Batches: Sendable {
        let client: PostgresClient
        let logger: Logger
        let connectTimeout: Duration
        let limit: Duration
        let lockFigures: LockFigures

        func commit(_ batch: [Job]) async throws -> [GroupCommitAnswer] {
            var attempt = 0
            var carefully = batch.count == 1
            while true {
                attempt += 1
                do {
                    // A batch that outlives its limit is abandoned (its writes told 503), so one stuck
                    // connection cannot hold up every write after it.
                    let careful = carefully
                    return try await Deadline.run(limit + .milliseconds(50 * batch.count)) {
                        try await self.commit(batch, carefully: careful)
                    }
                } catch is RunCarefully {
                    carefully = true
                    attempt -= 1
                } catch  where attempt < 3 && PostgresFault.isRetryable(error) {
                    logger.debug("A write batch met a deadlock or serialisation failure; running it again", metadata: ["attempt": "\(attempt)"])
                }
            }
        }

        private func commit(_ batch: [Job], carefully: Bool) async throws -> [GroupCommitAnswer] {
            let logger = logger
            return try await client.withConnection(within: connectTimeout) { connection in
                let session = PostgresSession(connection: connection, logger: logger)
                try await session.execute("BEGIN")
                do {
                    var answers: [GroupCommitAnswer] = []
                    var each = batch
                    if !carefully {
                        let together = batch.compactMap(\.intake)
                        if together.count > 1 {
                            do {
                                try await PostgresStore.write(together.map(\.record), in: session)
                            } catch  where !session.connectionLost(error) {
                                throw RunCarefully()
                            }
                            answers += together.map(\.accepted)
                            each = batch.filter { $0.intake == nil }
                        }
                    }
                    for job in each {
                        // A lone write needs no savepoint: if it fails, the transaction holds nothing else.
                        let savepoint = carefully && batch.count > 1
                        let audited = session.audit.count
                        if savepoint { try await session.execute("SAVEPOINT write") }
                        let (error, answer) = await job.run(session)
                        if let error {
                            session.rollBack(auditTo: audited)
                            // The connection is gone: the whole batch fails, and the server rolls it back.
                            if session.connectionLost(error) { throw error }
                            // Run the batch again, each write on its own, so this one fails alone.
                            if !carefully { throw RunCarefully() }
                            if batch.count == 1 {
                                await session.rollBack(after: error)
                                return [answer]
                            }
                            try await session.execute("ROLLBACK TO SAVEPOINT write")
                        }
                        if savepoint { try await session.execute("RELEASE SAVEPOINT write") }
                        answers.append(answer)
                    }
                    // Queued now, sent at the commit: outside the chain's lock.
                    if session.addsDueWork { try await session.execute("SELECT pg_notify('\(unescaped: PostgresStore.deliveriesChannel)', '')") }
                    let asked = ContinuousClock.now
                    let locked = try await Self.appendAudit(session)
                    try await session.execute("COMMIT")
                    if let locked {
                        let committed = ContinuousClock.now
                        self.lockFigures.figures.withLock { figures in
                            figures.appends += 1
                            figures.waited += asked.duration(to: locked).nanoseconds
                            figures.held += locked.duration(to: committed).nanoseconds
                        }
                    }
                    return answers
                } catch {
                    await session.rollBack(after: error)
                    throw error
                }
            }
        }

        /// Appends the batch's audit events after the chain's head, under the chain's lock.
        /// - Returns: when the lock was granted; nil when the batch had no events.
        private static func appendAudit(_ session: PostgresSession) async throws -> ContinuousClock.Instant? {
            guard !session.audit.isEmpty else { return nil }
            try await session.execute("SELECT pg_advisory_xact_lock(\(auditChainLock))")
            let locked = ContinuousClock.now
            let head = try await session.one("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
            var sequence: Int64 = try head?("seq") ?? 0
            var hash: String = try head?("hash") ?? AuditChain.genesis
            // One statement per thousand events: ten values each, well under the protocol's limit.
            for chunk in stride(from: 0, to: session.audit.count, by: 1000) {
                let entries = session.audit[chunk..<min(chunk + 1000, session.audit.count)]
                var values: [(any PostgresThrowingDynamicTypeEncodable)?] = []
                var tuples: [String] = []
                for entry in entries {
                    let event = AuditChain.seal(entry, sequence: sequence + 1, previousHash: hash)
                    let base = values.count
                    tuples.append("(" + (1...10).map { "$\(base + $0)" }.joined(separator: ", ") + ")")
                    values += [
                        event.sequence, event.at, event.kind, event.actor, event.referralId, event.deliveryId, event.agency, event.detail,
                        event.previousHash, event.hash,
                    ]
                    sequence = event.sequence
                    hash = event.hash
                }
                try await session.execute(
                    .bound(
                        "INSERT INTO audit_events (seq, at, kind, actor, referral_id, delivery_id, agency, detail, prev_hash, hash) VALUES "
                            + tuples.joined(separator: ", "), values))
            }
            // The batch's events counted by hour and kind, for the console's chart: one statement,
            // still under the chain's lock, so no two gateways add to the same row at once.
            var hourly: [String: (hour: String, kind: String, count: Int)] = [:]
            for entry in session.audit {
                let hour = String(entry.at.prefix(13))
                hourly[hour + " " + entry.kind.rawValue, default: (hour, entry.kind.rawValue, 0)].count += 1
            }
            let counts = hourly.values.sorted { ($0.hour, $0.kind) < ($1.hour, $1.kind) }
            try await session.execute(
                .bound(
                    "INSERT INTO audit_hourly (hour, kind, n) VALUES "
                        + counts.indices.map { "($\($0 * 3 + 1), $\($0 * 3 + 2), $\($0 * 3 + 3)::BIGINT)" }.joined(separator: ", ")
                        + " ON CONFLICT (hour, kind) DO UPDATE SET n = audit_hourly.n + EXCLUDED.n",
                    counts.flatMap { [$0.hour, $0.kind, Int64($0.count)] as [(any PostgresThrowingDynamicTypeEncodable)?] }))
            return locked
        }
    }
}

extension Duration {
    var nanoseconds: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }
}
