import Audit
import Foundation
import Logging
import PostgresNIO
import Storage
import Synchronization

/// Chains the audit events gateways wrote unsequenced (`audit_pending`) onto the log, one gateway
/// at a time: under an advisory lock it takes the pending events in the order they were written,
/// seals each after the chain's head, inserts them into `audit_events`, counts them by hour for
/// the console's chart, and deletes them from `audit_pending`, in one transaction. Every gateway
/// tries every `interval` (skipping when another holds the lock), so a gateway that dies leaves
/// nothing behind: its committed events are chained by the next. Anything that reads the log runs
/// it first and waits its turn, so it reads every event committed before it asked.
///
/// Intake's transactions therefore never wait for one another over the chain (they did when each
/// appended under the lock until its commit); the chain is as ordered, complete and checkable as
/// before, and an event waits at most about `interval` to join it (`/metrics` shows how many wait
/// and the oldest's age).
enum AuditSequencer {
    /// The key of the advisory lock one sequencer holds at a time.
    static let lock: Int64 = 0x5357_4244_4155_4454
    /// How often each gateway tries.
    static let interval: Duration = .milliseconds(100)
    /// Events taken from `audit_pending` per statement.
    static let batch = 2_000

    /// What sequencing has cost this gateway, in nanoseconds (read by `/metrics` while it goes on).
    final class Figures: Sendable {
        let totals = Mutex<(runs: Int, waited: Int64, held: Int64)>((0, 0, 0))
    }

    /// Sequences everything pending.
    /// - Parameter wait: wait for another gateway's turn to end (a reader that must see every
    ///   committed event); otherwise give up when another gateway is sequencing.
    /// - Returns: how many events joined the chain.
    static func run(_ session: PostgresSession, wait: Bool, figures: Figures) async throws -> Int {
        try await session.execute("BEGIN")
        do {
            let asked = ContinuousClock.now
            if wait {
                try await session.execute("SELECT pg_advisory_xact_lock(\(lock))")
            } else if try await session.one("SELECT pg_try_advisory_xact_lock(\(lock)) AS got")?("got", as: Bool.self) != true {
                try await session.execute("ROLLBACK")
                return 0
            }
            let locked = ContinuousClock.now
            let head = try await session.one("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
            var sequence: Int64 = try head?("seq") ?? 0
            var hash: String = try head?("hash") ?? AuditChain.genesis
            var total = 0
            while true {
                // The ids taken as an array, so each row is found by its key whatever the planner
                // believes of the table's size: a queue table's statistics, taken by autovacuum
                // while it was nearly empty, would otherwise plan a join scanning it once a row.
                let rows = try await session.rows(
                    """
                    DELETE FROM audit_pending WHERE id = ANY(ARRAY(SELECT id FROM audit_pending ORDER BY id LIMIT \(batch)))
                    RETURNING id, at, kind, actor, referral_id, delivery_id, agency, detail
                    """)
                guard !rows.isEmpty else { break }
                var events: [AuditEvent] = []
                // Each id decoded once, not twice in every comparison of the sort.
                for (_, row) in try rows.map({ (try $0("id", as: Int64.self), $0) }).sorted(by: { $0.0 < $1.0 }) {
                    var event = AuditEvent(
                        sequence: sequence + 1, at: try row("at"), kind: try row("kind"), actor: try row("actor"),
                        referralId: try row("referral_id"), deliveryId: try row("delivery_id"), agency: try row("agency"),
                        detail: try row("detail"), previousHash: hash, hash: "")
                    event.hash = AuditChain.hash(of: event)
                    sequence = event.sequence
                    hash = event.hash
                    events.append(event)
                }
                try await insert(events, in: session)
                total += events.count
                if rows.count < batch { break }
            }
            try await session.execute("COMMIT")
            if total > 0 {
                let committed = ContinuousClock.now
                figures.totals.withLock { totals in
                    totals.runs += 1
                    totals.waited += asked.duration(to: locked).nanoseconds
                    totals.held += locked.duration(to: committed).nanoseconds
                }
            }
            return total
        } catch {
            await session.rollBack(after: error)
            throw error
        }
    }

    /// Inserts sealed events and adds them to the hourly counts, still under the lock, so no two
    /// gateways add to the same count at once.
    static func insert(_ events: [AuditEvent], in session: PostgresSession) async throws {
        // One statement per thousand events: ten values each, well under the protocol's limit.
        for chunk in stride(from: 0, to: events.count, by: 1000) {
            var values: [(any PostgresThrowingDynamicTypeEncodable)?] = []
            var tuples: [String] = []
            for event in events[chunk..<min(chunk + 1000, events.count)] {
                let base = values.count
                tuples.append(PostgresStore.placeholders(10, after: base))
                values += [
                    event.sequence, event.at, event.kind, event.actor, event.referralId, event.deliveryId, event.agency, event.detail,
                    event.previousHash, event.hash,
                ]
            }
            try await session.execute(
                .bound(
                    "INSERT INTO audit_events (seq, at, kind, actor, referral_id, delivery_id, agency, detail, prev_hash, hash) VALUES "
                        + tuples.joined(separator: ", "), values))
        }
        var hourly: [String: (hour: String, kind: String, count: Int)] = [:]
        for event in events {
            let hour = String(event.at.prefix(13))
            hourly[hour + " " + event.kind, default: (hour, event.kind, 0)].count += 1
        }
        let counts = hourly.values.sorted { ($0.hour, $0.kind) < ($1.hour, $1.kind) }
        try await session.execute(
            .bound(
                "INSERT INTO audit_hourly (hour, kind, n) VALUES "
                    + counts.indices.map { "($\($0 * 3 + 1), $\($0 * 3 + 2), $\($0 * 3 + 3)::BIGINT)" }.joined(separator: ", ")
                    + " ON CONFLICT (hour, kind) DO UPDATE SET n = audit_hourly.n + EXCLUDED.n",
                counts.flatMap { [$0.hour, $0.kind, Int64($0.count)] as [(any PostgresThrowingDynamicTypeEncodable)?] }))
    }
}

extension PostgresStore {
    /// Chains every event committed so far, waiting for another gateway's turn: what a read of the
    /// log does first, so it sees every event written before it.
    @discardableResult
    func sequenceAudit(wait: Bool = true) async throws -> Int {
        let figures = sequencerFigures
        return try await single { session in try await AuditSequencer.run(session, wait: wait, figures: figures) }
    }

    /// One turn, bounded: a store operation waits up to its whole operation limit (seconds) even
    /// when its caller is cancelled, and a gateway must stop within its cancellation budget.
    func sequencerTurn(within limit: Duration = .seconds(1)) async throws {
        _ = try await Deadline.run(limit) { try await self.sequenceAudit(wait: false) }
    }

    /// Tries to sequence every `AuditSequencer.interval` until cancelled.
    func runSequencer() async {
        while !Task.isCancelled {
            do {
                try await sequencerTurn()
            } catch {
                if Task.isCancelled { return }
                logger.debug("Audit events could not be sequenced yet", metadata: ["error.type": "\(type(of: error))"])
            }
            try? await Task.sleep(for: AuditSequencer.interval)
        }
    }

    public var auditChainLock: AuditChainLockFigures {
        let totals = sequencerFigures.totals.withLock { $0 }
        return AuditChainLockFigures(appends: totals.runs, waitedSeconds: Double(totals.waited) / 1e9, heldSeconds: Double(totals.held) / 1e9)
    }

    public func auditBacklog() async throws -> AuditBacklog {
        try await single { session in
            let row = try await session.one("SELECT count(*) AS n, min(written_at) AS oldest FROM audit_pending")
            let oldest = try row?("oldest", as: Double?.self)
            return AuditBacklog(
                events: Int(try row?("n", as: Int64.self) ?? 0), oldestSeconds: oldest.map { max(0, Date().timeIntervalSince1970 - $0) } ?? 0)
        }
    }
}
