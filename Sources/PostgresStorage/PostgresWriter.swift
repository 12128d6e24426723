import Audit
import Foundation
import Logging
import PostgresNIO

/// Every write goes through here, so writes share commits, as with SQLite's group commit: while
/// one transaction runs, new writes queue, and the next transaction takes all of them, each inside
/// its own savepoint. A write that fails rolls back alone; a commit that fails fails every write in it.
///
/// The audit events of the whole batch are appended last, after
/// `pg_advisory_xact_lock`: every gateway appending to the chain takes that one lock, reads the
/// chain's head and appends after it, and holds the lock until its commit. The lock is held only for
/// the appends and the commit, never for the batch's other statements.
///
/// A batch the database aborted to break a deadlock, or a serialisation failure, runs again
/// from the start, up to three times: its writes have not been told anything yet.
actor PostgresWriter {
    private struct Job: Sendable {
        /// Runs the write inside the transaction; returns what to tell its caller after the commit.
        let run: @Sendable (PostgresSession) async -> (error: (any Error)?, answer: @Sendable () -> Void)
        /// Tells the caller the transaction did not commit.
        let fail: @Sendable (any Error) -> Void
    }

    /// The key of the advisory lock that serialises appends to the audit chain.
    static let auditChainLock: Int64 = 0x5357_4244_4155_4454

    private let client: PostgresClient
    private let logger: Logger
    private var pending: [Job] = []
    private var flushing = false
    private let maximumBatch = 256

    private let connectTimeout: Duration
    /// The longest one batch may take, from asking for a connection to its commit.
    private let limit: Duration

    init(client: PostgresClient, logger: Logger, connectTimeout: Duration, limit: Duration) {
        self.client = client
        self.logger = logger
        self.connectTimeout = connectTimeout
        self.limit = limit
    }

    func perform<Value: Sendable>(_ work: @escaping @Sendable (PostgresSession) async throws -> Value) async throws -> Value {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Value, any Error>) in
            let job = Job(
                run: { session in
                    let outcome: Result<Value, any Error>
                    do { outcome = .success(try await work(session)) } catch { outcome = .failure(error) }
                    let error: (any Error)? = if case .failure(let error) = outcome { error } else { nil }
                    return (error, { continuation.resume(with: outcome) })
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
            var attempt = 0
            while true {
                attempt += 1
                do {
                    // A batch that outlives its limit is abandoned (its writes told 503), so one stuck
                    // connection cannot hold up every write after it.
                    let answers = try await Deadline.run(limit + .milliseconds(50 * batch.count)) { try await self.commit(batch) }
                    for answer in answers { answer() }
                    break
                } catch  where attempt < 3 && PostgresFault.isRetryable(error) {
                    logger.debug("A write batch met a deadlock or serialisation failure; running it again", metadata: ["attempt": "\(attempt)"])
                } catch {
                    for job in batch { job.fail(error) }
                    break
                }
            }
        }
        flushing = false
    }

    private func commit(_ batch: [Job]) async throws -> [@Sendable () -> Void] {
        let logger = logger
        return try await client.withConnection(within: connectTimeout) { connection in
            let session = PostgresSession(connection: connection, logger: logger)
            try await session.execute("BEGIN")
            do {
                var answers: [@Sendable () -> Void] = []
                for job in batch {
                    // A lone write needs no savepoint: if it fails, the transaction holds nothing else.
                    let alone = batch.count == 1
                    let audited = session.audit.count
                    if !alone { try await session.execute("SAVEPOINT write") }
                    let (error, answer) = await job.run(session)
                    if let error {
                        session.rollBack(auditTo: audited)
                        // The connection is gone: the whole batch fails, and the server rolls it back.
                        if session.connectionLost(error) { throw error }
                        if alone {
                            await session.rollBack(after: error)
                            return [answer]
                        }
                        try await session.execute("ROLLBACK TO SAVEPOINT write")
                    }
                    if !alone { try await session.execute("RELEASE SAVEPOINT write") }
                    answers.append(answer)
                }
                try await Self.appendAudit(session)
                if session.addsDueWork { try await session.execute("SELECT pg_notify('\(unescaped: PostgresStore.deliveriesChannel)', '')") }
                try await session.execute("COMMIT")
                return answers
            } catch {
                await session.rollBack(after: error)
                throw error
            }
        }
    }

    /// Appends the batch's audit events after the chain's head, under the chain's lock.
    private static func appendAudit(_ session: PostgresSession) async throws {
        guard !session.audit.isEmpty else { return }
        try await session.execute("SELECT pg_advisory_xact_lock(\(auditChainLock))")
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
    }
}
