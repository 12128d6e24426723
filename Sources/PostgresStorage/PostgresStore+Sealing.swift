import Audit
import Foundation
import PostgresNIO
import ReferralModel
import Storage

extension PostgresStore {
    /// Seals (with encryption on) and indexes the referrals stored before: 200 a transaction,
    /// skipping rows another gateway is sealing, so an interrupted start carries on where it left off.
    func sealStoredRecords(_ sealer: RecordSealer) async throws {
        let sealing = sealer.encrypts
        while true {
            let count = try await writer.perform { session -> Int in
                let rows = try await session.rows(
                    """
                    SELECT id, body, data_key, sealed_key FROM referrals
                    WHERE pruned_at IS NULL AND (person_index IS NULL OR (\(sealing) AND sealed_key IS NULL)) LIMIT 200 FOR UPDATE SKIP LOCKED
                    """)
                for row in rows { try await Self.sealStored(row, sealer: sealer, in: session) }
                return rows.count
            }
            if count < 200 { return }
        }
    }

    private static func sealStored(_ row: PGRow, sealer: RecordSealer, in session: PostgresSession) async throws {
        let id = try row("id", as: ReferralID.self)
        let existing = try sealer.referralKey(id, dataKey: try row("data_key"), sealed: try row("sealed_key"))
        let body = try existing.open(try row("body", as: Data.self), column: "referrals.body", row: id.rawValue)
        // A body that does not read as a referral is still sealed; it has no index ("").
        let indexes = (try? ReferralDecoder.decodeStored(body)).map(sealer.blindIndexes) ?? (nhsNumber: nil, person: "")
        guard existing == nil, let key = sealer.newReferralKey(id) else {
            try await session.execute("UPDATE referrals SET nhs_index = \(indexes.nhsNumber), person_index = \(indexes.person) WHERE id = \(id)")
            return
        }
        let sealed = key.seal(body, column: "referrals.body", row: id.rawValue)
        try await session.execute(
            """
            UPDATE referrals SET body = \(sealed), data_key = \(key.dataKey), sealed_key = \(key.sealed), nhs_index = \(indexes.nhsNumber),
              person_index = \(indexes.person)
            WHERE id = \(id)
            """)
        if let original = try await session.one("SELECT body FROM original_messages WHERE referral_id = \(id)") {
            let sealedOriginal = key.seal(try original("body", as: Data.self), column: "original_messages.body", row: id.rawValue)
            try await session.execute("UPDATE original_messages SET body = \(sealedOriginal) WHERE referral_id = \(id)")
        }
        for note in try await session.rows("SELECT id, text FROM referral_notes WHERE referral_id = \(id)") {
            let noteId = try note("id", as: String.self)
            let text = key.sealText(try note("text", as: String.self), column: "referral_notes.text", row: noteId)
            try await session.execute("UPDATE referral_notes SET text = \(text) WHERE id = \(noteId)")
        }
        for reply in try await session.rows("SELECT id, agency_reply FROM deliveries WHERE referral_id = \(id) AND agency_reply IS NOT NULL") {
            let deliveryId = try reply("id", as: String.self)
            let text = key.sealText(try reply("agency_reply", as: String.self), column: "deliveries.agency_reply", row: deliveryId)
            try await session.execute("UPDATE deliveries SET agency_reply = \(text) WHERE id = \(deliveryId)")
        }
    }

    /// Re-wraps the data keys under `newKey`; every gateway keeps running, holding its data keys
    /// open. Returns how many it re-wrapped.
    public func rotateKey(to newKey: KeyEncryptionKey, from current: KeyEncryptionKey) async throws -> Int {
        try await write { session in
            let stored = try await session.rows("SELECT id, kek_id, wrapped FROM data_keys FOR UPDATE").map {
                StoredDataKey(id: try $0("id", as: String.self), kekId: try $0("kek_id", as: String.self), wrapped: try $0("wrapped", as: Data.self))
            }
            let rewrapped = try RecordSealer.rewrap(stored, from: current, to: newKey)
            for key in rewrapped {
                try await session.execute("UPDATE data_keys SET kek_id = \(key.kekId), wrapped = \(key.wrapped) WHERE id = \(key.id)")
            }
            return rewrapped.count
        }
    }
}

extension PostgresStore {
    public func referralIds(about search: PersonSearch) async throws -> [ReferralID] {
        try await ready()
        guard let (column, value) = search.index(with: try sealer()) else { return [] }
        return try await read { session in
            try await session.rows(
                "SELECT id FROM referrals WHERE \(unescaped: column) = \(value) AND pruned_at IS NULL ORDER BY received_at, id"
            ).map { try $0("id", as: ReferralID.self) }
        }
    }
}

extension PostgresStore {
    public func auditEvents(referralId: ReferralID) async throws -> [AuditEvent] {
        try await sequenceAudit()
        return try await single { session in
            try await session.rows(
                """
                SELECT seq, at, kind, actor, referral_id, delivery_id, agency, detail, prev_hash, hash
                FROM audit_events WHERE referral_id = \(referralId) ORDER BY seq
                """
            ).map {
                AuditEvent(
                    sequence: try $0("seq"), at: try $0("at"), kind: try $0("kind"), actor: try $0("actor"), referralId: try $0("referral_id"),
                    deliveryId: try $0("delivery_id"), agency: try $0("agency"), detail: try $0("detail"), previousHash: try $0("prev_hash"),
                    hash: try $0("hash"))
            }
        }
    }

    public func eraseReferral(_ id: ReferralID, at: Date, audit: @escaping @Sendable ([DeliveryID]) -> [AuditEntry]) async throws
        -> [DeliveryID]?
    {
        try await write { session in
            // The key first: without it, nothing sealed for this referral opens again, wherever a copy is.
            let erased = try await session.changes(
                """
                UPDATE referrals SET body = '\\x'::bytea, data_key = NULL, sealed_key = NULL, nhs_index = NULL, person_index = NULL,
                  pruned_at = \(at.timeIntervalSince1970)
                WHERE id = \(id) AND pruned_at IS NULL
                """)
            guard erased == 1 else { return nil }
            try await session.execute("DELETE FROM referral_notes WHERE referral_id = \(id)")
            try await session.execute("DELETE FROM original_messages WHERE referral_id = \(id)")
            try await session.execute("UPDATE deliveries SET agency_reply = NULL WHERE referral_id = \(id)")
            let withdrawn = try await session.rows(
                """
                UPDATE deliveries SET state = 'withdrawn', answered_at = \(at.timeIntervalSince1970), lease_token = NULL, lease_expires_at = NULL
                WHERE referral_id = \(id) AND state = 'pending' RETURNING id, position
                """
            ).map { (try $0("position", as: Int.self), try $0("id", as: DeliveryID.self)) }.sorted { $0.0 < $1.0 }.map(\.1)
            try await session.execute(
                """
                UPDATE attention SET resolved_at = \(Timestamp.string(at)), resolved_by = 'erasure', resolution = 'personal data erased'
                WHERE referral_id = \(id) AND resolved_at IS NULL
                """)
            session.append(audit(withdrawn))
            return withdrawn
        }
    }
}
