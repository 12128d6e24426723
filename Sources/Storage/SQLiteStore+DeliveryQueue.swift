import Audit
import Foundation
import GRDB
import ReferralModel

extension SQLiteStore {
    public func leaseDueDeliveries(now: Date, limit: Int, leaseDuration: TimeInterval) async throws -> [LeasedDelivery] {
        let nowSeconds = now.timeIntervalSince1970
        return try await writer.perform { db, _ in
            let token = Identifier.make(now: now)
            let rows = try Row.fetchAll(
                db.cachedStatement(
                    sql: """
                        UPDATE deliveries
                        SET lease_token = ?, lease_expires_at = ?, attempts = attempts + 1
                        WHERE id IN (
                            SELECT id FROM deliveries
                            WHERE state = 'pending' AND next_attempt_at <= ?
                              AND (lease_expires_at IS NULL OR lease_expires_at <= ?)
                            ORDER BY next_attempt_at LIMIT ?)
                        RETURNING id, referral_id, agency, rule, attempts, needs
                        """), arguments: [token, nowSeconds + leaseDuration, nowSeconds, nowSeconds, limit])
            var leased: [LeasedDelivery] = []
            for row in rows {
                let referralId: String = row["referral_id"]
                guard
                    let referralRow = try Row.fetchOne(
                        db.cachedStatement(sql: "SELECT body, received_at FROM referrals WHERE id = ?"), arguments: [referralId])
                else { continue }
                let body: Data = referralRow["body"]
                let referral = try ReferralDecoder.decodeStored(body)
                leased.append(
                    LeasedDelivery(
                        deliveryId: row["id"], referralId: referralId, agency: row["agency"], rule: row["rule"],
                        attempt: row["attempts"], leaseToken: token, referral: referral,
                        receivedAt: Date(timeIntervalSince1970: referralRow["received_at"]), needs: Self.needs(row["needs"])))
            }
            // RETURNING gives no order guarantee; identifiers sort by creation time.
            return leased.sorted { $0.deliveryId < $1.deliveryId }
        }
    }

    @discardableResult
    public func finish(_ lease: LeasedDelivery, result: AttemptResult, audit: [AuditEntry], now: Date) async throws -> Bool {
        let nowSeconds = now.timeIntervalSince1970
        return try await writer.perform { db, cursor in
            switch result {
            case .delivered(let reference):
                try db.cachedStatement(
                    sql: """
                        UPDATE deliveries SET state = 'delivered', delivered_at = ?, agency_reference = ?, last_error = NULL,
                            lease_token = NULL, lease_expires_at = NULL
                        WHERE id = ? AND lease_token = ? AND state = 'pending'
                        """
                ).execute(arguments: [nowSeconds, reference, lease.deliveryId, lease.leaseToken])
            case .retry(let at, let error):
                try db.cachedStatement(
                    sql: """
                        UPDATE deliveries SET next_attempt_at = ?, last_error = ?, lease_token = NULL, lease_expires_at = NULL
                        WHERE id = ? AND lease_token = ? AND state = 'pending'
                        """
                ).execute(arguments: [at.timeIntervalSince1970, error, lease.deliveryId, lease.leaseToken])
            case .deadLetter(let error):
                try db.cachedStatement(
                    sql: """
                        UPDATE deliveries SET state = 'dead-lettered', last_error = ?, lease_token = NULL, lease_expires_at = NULL
                        WHERE id = ? AND lease_token = ? AND state = 'pending'
                        """
                ).execute(arguments: [error, lease.deliveryId, lease.leaseToken])
            }
            // A lost lease means another worker owns the job now: write nothing more.
            guard db.changesCount == 1 else { return false }
            try Self.append(audit, in: db, cursor: &cursor)
            return true
        }
    }

    public func nextDueDate() async throws -> Date? {
        try await pool.read { db in
            try Double.fetchOne(
                db,
                sql: """
                    SELECT MIN(MAX(next_attempt_at, COALESCE(lease_expires_at, 0))) FROM deliveries WHERE state = 'pending'
                    """
            ).map { Date(timeIntervalSince1970: $0) }
        }
    }

    /// A stored list of need codes (a JSON array of plain words), or nil for NULL.
    static func needs(_ stored: String?) -> [String]? {
        guard let stored else { return nil }
        return (try? JSONDecoder().decode([String].self, from: Data(stored.utf8))) ?? nil
    }
}
