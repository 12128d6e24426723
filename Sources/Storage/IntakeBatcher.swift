import Audit
import Foundation
import GRDB
import ReferralModel

/// Group commit for intake. Referrals that arrive while a transaction is committing wait for the
/// next one, which takes all of them: under load many referrals share one fsync, and when idle a
/// referral commits at once. Each referral is written inside its own savepoint, so one failure
/// does not take the rest of its batch with it.
actor IntakeBatcher {
    private let pool: DatabasePool
    private var pending: [(record: IntakeRecord, continuation: CheckedContinuation<IntakeOutcome, any Error>)] = []
    private var flushing = false
    /// Bounds one transaction so a burst cannot hold the write lock for long.
    private let maximumBatch = 256

    init(pool: DatabasePool) {
        self.pool = pool
    }

    func submit(_ record: IntakeRecord) async throws -> IntakeOutcome {
        try await withCheckedThrowingContinuation { continuation in
            pending.append((record, continuation))
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
            let records = batch.map(\.record)
            do {
                let outcomes = try await pool.write { db in
                    records.map { record in
                        Result<IntakeOutcome, any Error> {
                            var outcome: IntakeOutcome = .idempotencyConflict
                            try db.inSavepoint {
                                outcome = try Self.write(record, in: db)
                                return .commit
                            }
                            return outcome
                        }
                    }
                }
                for (entry, outcome) in zip(batch, outcomes) { entry.continuation.resume(with: outcome) }
            } catch {
                for entry in batch { entry.continuation.resume(throwing: error) }
            }
        }
        flushing = false
    }

    private static func write(_ record: IntakeRecord, in db: Database) throws -> IntakeOutcome {
        if let claim = record.idempotency,
            let previous = try Row.fetchOne(
                db, sql: "SELECT body_digest, receipt FROM idempotency_keys WHERE actor = ? AND key = ?",
                arguments: [record.actor, claim.key])
        {
            let digest: String = previous["body_digest"]
            guard digest == claim.bodyDigest else { return .idempotencyConflict }
            let receipt: Data = previous["receipt"]
            return .replayed(try JSONDecoder().decode(SubmissionReceipt.self, from: receipt))
        }
        let needs = String(decoding: try JSONEncoder().encode(record.referral.needs), as: UTF8.self)
        try db.execute(
            sql: """
                INSERT INTO referrals (id, received_at, actor, urgency, needs, rules_version, body)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                record.referralId, record.receivedAt.timeIntervalSince1970, record.actor, record.referral.urgency.rawValue, needs,
                record.rulesVersion, record.referral.canonicalJSON(),
            ])
        for (position, route) in record.routes.enumerated() {
            try db.execute(
                sql: """
                    INSERT INTO deliveries (id, referral_id, position, agency, rule, state, attempts, next_attempt_at)
                    VALUES (?, ?, ?, ?, ?, 'pending', 0, ?)
                    """,
                arguments: [
                    route.deliveryId, record.referralId, position, route.agency, route.rule,
                    record.receivedAt.timeIntervalSince1970,
                ])
        }
        let receipt = SubmissionReceipt(
            id: record.referralId, status: .routed, routes: record.routes, rulesVersion: record.rulesVersion)
        if let claim = record.idempotency {
            try db.execute(
                sql: "INSERT INTO idempotency_keys (actor, key, body_digest, referral_id, receipt) VALUES (?, ?, ?, ?, ?)",
                arguments: [record.actor, claim.key, claim.bodyDigest, record.referralId, try JSONEncoder().encode(receipt)])
        }
        try SQLiteReferralStore.append(record.audit, in: db)
        return .accepted(receipt)
    }
}
