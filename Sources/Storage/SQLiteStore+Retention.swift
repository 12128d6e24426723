import Audit
import Foundation
import GRDB

extension SQLiteStore {
    public func pruneClosedReferrals(receivedBefore: Date, at: Date, audit: @escaping @Sendable (Int) -> AuditEntry) async throws -> Int {
        try await writer.perform { db, cursor in
            let ids = try String.fetchAll(
                db,
                sql: """
                    SELECT id FROM referrals r
                    WHERE r.received_at < ? AND r.pruned_at IS NULL
                      AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.referral_id = r.id
                                      AND d.state IN ('pending', 'delivered', 'accepted', 'dead-lettered'))
                      AND NOT EXISTS (SELECT 1 FROM attention a WHERE a.referral_id = r.id AND a.resolved_at IS NULL)
                    """, arguments: [receivedBefore.timeIntervalSince1970])
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
