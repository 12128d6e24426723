import Audit
import Foundation
import GRDB
import ReferralModel

extension SQLiteStore {
    public func leaseDueDeliveries(now: Date, allowance: LeaseAllowance, leaseDuration: TimeInterval) async throws -> [LeasedDelivery] {
        let nowSeconds = now.timeIntervalSince1970
        guard allowance.total > 0 else { return [] }
        // Choose on a reader, beside the writer (WAL): the writer, which intake's commits share,
        // then only claims the chosen jobs that are still free.
        let chosen = try await pool.read { db -> [String] in
            let due = "state = 'pending' AND next_attempt_at <= ? AND (lease_expires_at IS NULL OR lease_expires_at <= ?)"
            // Each lane's oldest due jobs, up to its free slots, through the lane index: the listed
            // agencies, and any other agency with pending jobs (one no longer configured).
            let lane = try db.cachedStatement(
                sql: "SELECT id, next_attempt_at FROM deliveries WHERE agency = ? AND \(due) ORDER BY next_attempt_at LIMIT ?")
            var slots = allowance.perAgency.filter { $0.value > 0 }
            if allowance.otherAgencies > 0 {
                for agency in try Self.pendingAgencies(db, notIn: Array(allowance.perAgency.keys)) { slots[agency] = allowance.otherAgencies }
            }
            var byAgency: [(agency: String, jobs: [String])] = []
            var oldest: [String: Double] = [:]
            for (agency, free) in slots {
                let rows = try Row.fetchAll(lane, arguments: [agency, nowSeconds, nowSeconds, min(free, allowance.total)])
                guard let first = rows.first else { continue }
                oldest[agency] = first["next_attempt_at"]
                byAgency.append((agency, rows.map { $0["id"] }))
            }
            // The lane whose oldest job has waited longest goes first in each round.
            byAgency.sort { (oldest[$0.agency] ?? 0, $0.agency) < (oldest[$1.agency] ?? 0, $1.agency) }
            return allowance.fairly(byAgency)
        }
        guard !chosen.isEmpty else { return [] }
        return try await writer.perform { db, _ in
            let token = Identifier.make(now: now)
            let rows = try Row.fetchAll(
                db,
                sql: """
                    UPDATE deliveries SET lease_token = ?, lease_expires_at = ?, attempts = attempts + 1
                    WHERE id IN (\(Array(repeating: "?", count: chosen.count).joined(separator: ",")))
                      AND state = 'pending' AND next_attempt_at <= ? AND (lease_expires_at IS NULL OR lease_expires_at <= ?)
                    RETURNING id, referral_id, agency, rule, attempts, needs
                    """,
                arguments: StatementArguments(
                    [token, nowSeconds + leaseDuration] as [any DatabaseValueConvertible] + chosen + [nowSeconds, nowSeconds]))
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

    /// The agencies with pending jobs other than `listed`, found by seeking the lane index in the
    /// gaps between the listed ones, so a long queue is never scanned.
    static func pendingAgencies(_ db: Database, notIn listed: [String]) throws -> [String] {
        let bounds: [String?] = [nil] + listed.sorted().map { Optional($0) } + [nil]
        var found: [String] = []
        for gap in 0..<bounds.count - 1 {
            var lower = bounds[gap]
            let upper = bounds[gap + 1]
            while true {
                var sql = "SELECT agency FROM deliveries WHERE state = 'pending'"
                var arguments: [any DatabaseValueConvertible] = []
                if let lower {
                    sql += " AND agency > ?"
                    arguments.append(lower)
                }
                if let upper {
                    sql += " AND agency < ?"
                    arguments.append(upper)
                }
                guard let next = try String.fetchOne(db, sql: sql + " ORDER BY agency LIMIT 1", arguments: StatementArguments(arguments))
                else { break }
                found.append(next)
                lower = next
            }
        }
        return found
    }
}
