import Audit
import Foundation
import GRDB

extension SQLiteStore {
    public func pruneClosedReferrals(_ policy: RetentionPolicy, at: Date, audit: @escaping @Sendable (Int) -> AuditEntry) async throws -> Int {
        try await writer.perform { db, cursor in
            let ids = try String.fetchAll(
                db,
                sql: """
                    SELECT id FROM referrals r
                    WHERE r.received_at < ?1 AND r.pruned_at IS NULL
                      AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.referral_id = r.id
                                      AND (d.state IN ('pending', 'delivered', 'returned')
                                           OR (d.state = 'accepted' AND (?2 IS NULL OR COALESCE(d.answered_at, d.delivered_at, 0) >= ?2))
                                           OR (d.state = 'dead-lettered'
                                               AND NOT EXISTS (SELECT 1 FROM attention a WHERE a.delivery_id = d.id AND a.resolved_at IS NOT NULL))))
                      AND NOT EXISTS (SELECT 1 FROM attention a WHERE a.referral_id = r.id AND a.resolved_at IS NULL)
                    """, arguments: [policy.receivedBefore.timeIntervalSince1970, policy.acceptedBefore?.timeIntervalSince1970])
            guard !ids.isEmpty else { return 0 }
            for id in ids {
                // The body, its key and the blind indexes go: nothing is left to find or open.
                try db.execute(
                    sql: """
                        UPDATE referrals SET body = X'', pruned_at = ?, data_key = NULL, sealed_key = NULL, nhs_index = NULL, person_index = NULL
                        WHERE id = ?
                        """, arguments: [at.timeIntervalSince1970, id])
                try db.execute(sql: "UPDATE deliveries SET agency_reply = NULL WHERE referral_id = ?", arguments: [id])
                try db.execute(sql: "DELETE FROM referral_notes WHERE referral_id = ?", arguments: [id])
                try db.execute(sql: "DELETE FROM original_messages WHERE referral_id = ?", arguments: [id])
            }
            try Self.append([audit(ids.count)], in: db, cursor: &cursor)
            return ids.count
        }
    }
}

extension SQLiteStore {
    public func claimRetentionRun(day: String, gateway: String, at: Date) async throws -> Bool {
        try await writer.perform { db, _ in
            try db.execute(
                sql: "INSERT INTO retention_runs (day, gateway, started_at) VALUES (?, ?, ?) ON CONFLICT (day) DO NOTHING",
                arguments: [day, gateway, at.timeIntervalSince1970])
            return db.changesCount == 1
        }
    }

    public func finishRetentionRun(day: String, at: Date, pruned: Int) async throws {
        try await writer.perform { db, _ in
            try db.execute(
                sql: "UPDATE retention_runs SET finished_at = ?, pruned = ? WHERE day = ?", arguments: [at.timeIntervalSince1970, pruned, day])
        }
    }

    public func lastRetentionRun() async throws -> RetentionRun? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM retention_runs ORDER BY day DESC LIMIT 1").map { row in
                let finished: Double? = row["finished_at"]
                return RetentionRun(
                    day: row["day"], gateway: row["gateway"], startedAt: Date(timeIntervalSince1970: row["started_at"]),
                    finishedAt: finished.map(Date.init(timeIntervalSince1970:)), pruned: row["pruned"])
            }
        }
    }
}
