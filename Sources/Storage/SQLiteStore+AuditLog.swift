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

    public func auditActivity(since: Date, kinds: Set<AuditKind>) async throws -> [AuditHourCount] {
        let since = String(Timestamp.string(since).prefix(13))
        let kinds = kinds.map(\.rawValue).sorted()
        guard !kinds.isEmpty else { return [] }
        return try await pool.read { db in
            let marks = kinds.map { _ in "?" }.joined(separator: ", ")
            return try Row.fetchAll(
                db, sql: "SELECT hour, kind, n FROM audit_hourly WHERE hour >= ? AND kind IN (\(marks)) ORDER BY hour, kind",
                arguments: StatementArguments([since] + kinds)
            ).map { AuditHourCount(hour: $0["hour"], kind: $0["kind"], count: $0["n"]) }
        }
    }

    /// Adds a transaction's hourly counts to `audit_hourly`: one statement for a group commit's
    /// events, so what the console's chart reads costs the same however long the trail grows.
    static func countHourly(_ counts: [AuditHour: Int], in db: Database) throws {
        guard !counts.isEmpty else { return }
        let statement = try db.cachedStatement(
            sql: "INSERT INTO audit_hourly (hour, kind, n) VALUES (?, ?, ?) ON CONFLICT (hour, kind) DO UPDATE SET n = n + excluded.n")
        for (key, count) in counts { try statement.execute(arguments: [key.hour, key.kind, count]) }
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
            cursor.sequence = event.sequence
            cursor.hash = event.hash
            cursor.hourly[AuditHour(hour: String(event.at.prefix(13)), kind: event.kind), default: 0] += 1
        }
    }
}
