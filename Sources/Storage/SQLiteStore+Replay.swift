import Foundation
import GRDB
import ReferralModel

extension SQLiteStore {
    public func referralsReceived(from: Date, to: Date, after: ReferralID?, limit: Int) async throws -> [ReceivedReferral] {
        try await pool.read { db in
            // Ids are UUIDv7: a range of them is a range of time, read through the primary key.
            var sql = "SELECT id, received_at, body, data_key, sealed_key FROM referrals WHERE id >= ? AND id < ? AND pruned_at IS NULL"
            var arguments: [(any DatabaseValueConvertible)?] = [Identifier.earliest(at: from), Identifier.earliest(at: to)]
            if let after {
                sql += " AND id > ?"
                arguments.append(after)
            }
            sql += " ORDER BY id LIMIT ?"
            arguments.append(limit)
            return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).compactMap { row -> ReceivedReferral? in
                let id: ReferralID = row["id"]
                do {
                    // No key: a store without encryption at rest, whose bodies are plain.
                    let key = try sealer.referralKey(id, dataKey: row["data_key"], sealed: row["sealed_key"])
                    let referral = try ReferralDecoder.decodeStored(Array(try key.open(row["body"], column: "referrals.body", row: id.rawValue)))
                    return ReceivedReferral(referralId: id, receivedAt: Date(timeIntervalSince1970: row["received_at"]), referral: referral)
                } catch {
                    // A referral whose key was shredded (erased) cannot be read, and is left out.
                    return nil
                }
            }
        }
    }
}
