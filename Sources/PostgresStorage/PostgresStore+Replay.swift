import Foundation
import ReferralModel
import Storage

extension PostgresStore {
    public func referralsReceived(from: Date, to: Date, after: ReferralID?, limit: Int) async throws -> [ReceivedReferral] {
        try await ready()
        let sealer = try sealer()
        let low = Identifier.earliest(at: from)
        let high = Identifier.earliest(at: to)
        return try await read { session in
            // Ids are UUIDv7: a range of them is a range of time, read through the primary key.
            try await session.rows(
                """
                SELECT id, received_at, body, data_key, sealed_key FROM referrals
                WHERE id >= \(low) AND id < \(high) AND pruned_at IS NULL AND (\(after)::text IS NULL OR id > \(after))
                ORDER BY id LIMIT \(limit)
                """
            ).compactMap { row -> ReceivedReferral? in
                let id = try row("id", as: ReferralID.self)
                do {
                    // No key: a store without encryption at rest, whose bodies are plain.
                    let key = try sealer.referralKey(id, dataKey: try row("data_key"), sealed: try row("sealed_key"))
                    let referral = try ReferralDecoder.decodeStored(
                        try key.open(try row("body", as: Data.self), column: "referrals.body", row: id.rawValue))
                    return ReceivedReferral(referralId: id, receivedAt: try row.date("received_at") ?? .distantPast, referral: referral)
                } catch {
                    // A referral whose key was shredded (erased) cannot be read, and is left out.
                    return nil
                }
            }
        }
    }
}
