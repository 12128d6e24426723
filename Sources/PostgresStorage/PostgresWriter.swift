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
/// The audit events of the whole batch are written in its transaction as unsequenced events
/// (`audit_pending`), without a lock: gateways writing at once do not wait for each other. One
/// gateway at a time (`AuditSequencer`) then chains them, within a fraction of a second.
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

    /// The group-commit engine the SQLite store's writer runs on too.
    private let engine: GroupCommit<Job>

    /// - Parameter limit: the longest one batch may take, from asking for a connection to its commit.
    init(client: PostgresClient, logger: Logger, connectTimeout: Duration, limit: Duration, reachability: Reachability) {
        let batches = Batches(client: client, logger: logger, connectTimeout: connectTimeout, limit: limit, reachability: reachability)
        engine = GroupCommit(maximumBatch: 256, concurrency: 2) { batch in try await batches.commit(batch) }
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
        let reachability: Reachability

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
            return try await client.withConnection(within: connectTimeout, reachability: reachability) { connection in
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
                    // Queued now, sent at the commit.
                    if session.addsDueWork { try await session.execute("SELECT pg_notify('\(unescaped: PostgresStore.deliveriesChannel)', '')") }
                    try await Self.appendAudit(session)
                    try await session.execute("COMMIT")
                    return answers
                } catch {
                    await session.rollBack(after: error)
                    throw error
                }
            }
        }

        /// Writes the batch's audit events as unsequenced, in its own transaction and without any
        /// lock: the sequencer (`AuditSequencer`) chains them after it commits.
        private static func appendAudit(_ session: PostgresSession) async throws {
            guard !session.audit.isEmpty else { return }
            let writtenAt = Date().timeIntervalSince1970
            // One statement per thousand events: eight values each, well under the protocol's limit.
            for chunk in stride(from: 0, to: session.audit.count, by: 1000) {
                let entries = session.audit[chunk..<min(chunk + 1000, session.audit.count)]
                var values: [(any PostgresThrowingDynamicTypeEncodable)?] = []
                var tuples: [String] = []
                for entry in entries {
                    let base = values.count
                    tuples.append(PostgresStore.placeholders(8, after: base))
                    values += [
                        entry.at, entry.kind.rawValue, entry.actor, entry.referralId, entry.deliveryId, entry.agency, entry.detail, writtenAt,
                    ]
                }
                try await session.execute(
                    .bound(
                        "INSERT INTO audit_pending (at, kind, actor, referral_id, delivery_id, agency, detail, written_at) VALUES "
                            + tuples.joined(separator: ", "), values))
            }
        }
    }
}

extension Duration {
    var nanoseconds: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }
}
