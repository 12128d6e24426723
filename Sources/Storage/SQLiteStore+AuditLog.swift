import Audit
import Foundation
import GRDB
import ReferralModel

extension SQLiteStore {
    public func appendAudit(_ entries: [AuditEntry]) async throws {
        try await writer.perform { db, cursor in try Self.append(entries, in: db, cursor: &cursor) }
    }

    public func auditHead() async throws -> (sequence: Int64, hash: String)? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1").map { ($0["seq"], $0["hash"]) }
        }
    }

    public func auditEvents(afterSequence: Int64, limit: Int) async throws -> [AuditEvent] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT seq, at, kind, actor, referral_id, delivery_id, agency, detail, prev_hash, hash
                    FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?
                    """, arguments: [afterSequence, limit]
            ).map {
                AuditEvent(
                    sequence: $0["seq"], at: $0["at"], kind: $0["kind"], actor: $0["actor"], referralId: $0["referral_id"],
                    deliveryId: $0["delivery_id"], agency: $0["agency"], detail: $0["detail"], previousHash: $0["prev_hash"],
                    hash: $0["hash"])
            }
        }
    }

    public func auditActivity(since: Date, kinds: Set<String>) async throws -> [AuditHourCount] {
        let since = Timestamp.string(since)
        let kinds = kinds.sorted()
        guard !kinds.isEmpty else { return [] }
        return try await pool.read { db in
            // Sequences follow time, so the first event since then is found by halving, with no index on `at`.
            let atOrAfter = "SELECT at FROM audit_events WHERE seq >= ? ORDER BY seq LIMIT 1"
            var low = try Int64.fetchOne(db, sql: "SELECT min(seq) FROM audit_events") ?? 0
            var high = (try Int64.fetchOne(db, sql: "SELECT max(seq) FROM audit_events") ?? 0) + 1
            while low < high {
                let middle = low + (high - low) / 2
                if let at = try String.fetchOne(db, sql: atOrAfter, arguments: [middle]), at < since { low = middle + 1 } else { high = middle }
            }
            let marks = kinds.map { _ in "?" }.joined(separator: ", ")
            return try Row.fetchAll(
                db,
                sql: """
                    SELECT substr(at, 1, 13) AS hour, kind, count(*) AS n FROM audit_events
                    WHERE seq >= ? AND kind IN (\(marks)) GROUP BY hour, kind ORDER BY hour
                    """, arguments: StatementArguments([low] + kinds.map { $0 as any DatabaseValueConvertible })
            ).map { AuditHourCount(hour: $0["hour"], kind: $0["kind"], count: $0["n"]) }
        }
    }

    /// The last event of the chain, or the genesis when the log is empty.
    static func auditHead(_ db: Database) throws -> AuditCursor {
        let head = try Row.fetchOne(db, sql: "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
        return AuditCursor(sequence: head?["seq"] ?? 0, hash: head?["hash"] ?? AuditChain.genesis)
    }

    /// Chains and appends audit events inside the caller's write transaction.
    static func append(_ entries: [AuditEntry], in db: Database, cursor: inout AuditCursor) throws {
        let statement = try db.cachedStatement(
            sql: """
                INSERT INTO audit_events (seq, at, kind, actor, referral_id, delivery_id, agency, detail, prev_hash, hash)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
        for entry in entries {
            let event = AuditChain.seal(entry, sequence: cursor.sequence + 1, previousHash: cursor.hash)
            try statement.execute(arguments: [
                event.sequence, event.at, event.kind, event.actor, event.referralId, event.deliveryId, event.agency,
                event.detail, event.previousHash, event.hash,
            ])
            cursor = AuditCursor(sequence: event.sequence, hash: event.hash)
        }
    }
}
