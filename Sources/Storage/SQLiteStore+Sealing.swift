import Audit
import Foundation
import GRDB
import ReferralModel

extension SQLiteStore {
    /// Opens the data keys with the key-encryption key, creating them on first use.
    static func openDataKeys(in db: Database, kek: KeyEncryptionKey?) throws -> RecordSealer {
        let stored = try Row.fetchAll(db, sql: "SELECT id, kek_id, wrapped FROM data_keys").map {
            StoredDataKey(id: $0["id"], kekId: $0["kek_id"], wrapped: $0["wrapped"])
        }
        let opened = try RecordSealer.open(stored: stored, kek: kek)
        for key in opened.write {
            try db.execute(
                sql: """
                    INSERT INTO data_keys (id, kek_id, wrapped, created_at) VALUES (?, ?, ?, ?)
                    ON CONFLICT (id) DO UPDATE SET kek_id = excluded.kek_id, wrapped = excluded.wrapped
                    """, arguments: [key.id, key.kekId, key.wrapped, Date().timeIntervalSince1970])
        }
        return opened.sealer
    }

    /// Seals (with encryption on) and indexes the referrals stored before: 200 a transaction, so
    /// a start that is stopped carries on where it left off. Returns how many it changed.
    @discardableResult
    func sealStoredRecords() throws -> Int {
        var changed = 0
        let sealing = sealer.encrypts
        while true {
            let count = try pool.write { db -> Int in
                let rows = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT id, body, data_key, sealed_key FROM referrals
                        WHERE pruned_at IS NULL AND (person_index IS NULL OR (? AND sealed_key IS NULL)) LIMIT 200
                        """, arguments: [sealing])
                for row in rows { try sealStored(row, in: db) }
                return rows.count
            }
            changed += count
            if count < 200 { return changed }
        }
    }

    private func sealStored(_ row: Row, in db: Database) throws {
        let id: ReferralID = row["id"]
        let existing = try sealer.referralKey(id, dataKey: row["data_key"], sealed: row["sealed_key"])
        let body = try existing.open(row["body"], column: "referrals.body", row: id.rawValue)
        // A body that does not read as a referral is still sealed; it has no index ("").
        let indexes = (try? ReferralDecoder.decodeStored(Array(body))).map(sealer.blindIndexes) ?? (nhsNumber: nil, person: "")
        guard existing == nil, let key = sealer.newReferralKey(id) else {
            try db.execute(
                sql: "UPDATE referrals SET nhs_index = ?, person_index = ? WHERE id = ?", arguments: [indexes.nhsNumber, indexes.person, id])
            return
        }
        try db.execute(
            sql: "UPDATE referrals SET body = ?, data_key = ?, sealed_key = ?, nhs_index = ?, person_index = ? WHERE id = ?",
            arguments: [key.seal(body, column: "referrals.body", row: id.rawValue), key.dataKey, key.sealed, indexes.nhsNumber, indexes.person, id])
        if let original = try Data.fetchOne(db, sql: "SELECT body FROM original_messages WHERE referral_id = ?", arguments: [id]) {
            try db.execute(
                sql: "UPDATE original_messages SET body = ? WHERE referral_id = ?",
                arguments: [key.seal(original, column: "original_messages.body", row: id.rawValue), id])
        }
        for note in try Row.fetchAll(db, sql: "SELECT id, text FROM referral_notes WHERE referral_id = ?", arguments: [id]) {
            let noteId: String = note["id"]
            try db.execute(
                sql: "UPDATE referral_notes SET text = ? WHERE id = ?",
                arguments: [key.sealText(note["text"], column: "referral_notes.text", row: noteId), noteId])
        }
        for reply in try Row.fetchAll(
            db, sql: "SELECT id, agency_reply FROM deliveries WHERE referral_id = ? AND agency_reply IS NOT NULL", arguments: [id])
        {
            let deliveryId: String = reply["id"]
            try db.execute(
                sql: "UPDATE deliveries SET agency_reply = ? WHERE id = ?",
                arguments: [key.sealText(reply["agency_reply"], column: "deliveries.agency_reply", row: deliveryId), deliveryId])
        }
    }

    /// A referral's key, read in the transaction that needs it.
    static func referralKey(_ id: ReferralID, sealer: RecordSealer, in db: Database) throws -> ReferralKey? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT data_key, sealed_key FROM referrals WHERE id = ?"), arguments: [id])
        else { return nil }
        return try sealer.referralKey(id, dataKey: row["data_key"], sealed: row["sealed_key"])
    }

    /// Re-wraps the data keys under `newKey` (the gateways keep running: each holds its data keys
    /// open). Returns how many it re-wrapped.
    public func rotateKey(to newKey: KeyEncryptionKey, from current: KeyEncryptionKey) async throws -> Int {
        try await writer.perform { db, _ in
            let stored = try Row.fetchAll(db, sql: "SELECT id, kek_id, wrapped FROM data_keys").map {
                StoredDataKey(id: $0["id"], kekId: $0["kek_id"], wrapped: $0["wrapped"])
            }
            let rewrapped = try RecordSealer.rewrap(stored, from: current, to: newKey)
            for key in rewrapped {
                try db.execute(sql: "UPDATE data_keys SET kek_id = ?, wrapped = ? WHERE id = ?", arguments: [key.kekId, key.wrapped, key.id])
            }
            return rewrapped.count
        }
    }
}

extension SQLiteStore {
    public func referralIds(about search: PersonSearch) async throws -> [ReferralID] {
        guard let (column, value) = search.index(with: sealer) else { return [] }
        return try await pool.read { db in
            try ReferralID.fetchAll(
                db, sql: "SELECT id FROM referrals WHERE \(column) = ? AND pruned_at IS NULL ORDER BY received_at, id", arguments: [value])
        }
    }
}

extension SQLiteStore {
    public func auditEvents(referralId: ReferralID) async throws -> [AuditEvent] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT seq, at, kind, actor, referral_id, delivery_id, agency, detail, prev_hash, hash
                    FROM audit_events WHERE referral_id = ? ORDER BY seq
                    """, arguments: [referralId]
            ).map {
                AuditEvent(
                    sequence: $0["seq"], at: $0["at"], kind: $0["kind"], actor: $0["actor"], referralId: $0["referral_id"],
                    deliveryId: $0["delivery_id"], agency: $0["agency"], detail: $0["detail"], previousHash: $0["prev_hash"], hash: $0["hash"])
            }
        }
    }

    public func eraseReferral(_ id: ReferralID, at: Date, audit: @escaping @Sendable ([DeliveryID]) -> [AuditEntry]) async throws
        -> [DeliveryID]?
    {
        let erased = try await writer.perform { db, cursor -> [DeliveryID]? in
            // The key first: without it, nothing sealed for this referral opens again, wherever a copy is.
            try db.execute(
                sql: """
                    UPDATE referrals SET body = X'', data_key = NULL, sealed_key = NULL, nhs_index = NULL, person_index = NULL, pruned_at = ?
                    WHERE id = ? AND pruned_at IS NULL
                    """, arguments: [at.timeIntervalSince1970, id])
            guard db.changesCount == 1 else { return nil }
            try db.execute(sql: "DELETE FROM referral_notes WHERE referral_id = ?", arguments: [id])
            try db.execute(sql: "DELETE FROM original_messages WHERE referral_id = ?", arguments: [id])
            try db.execute(sql: "UPDATE deliveries SET agency_reply = NULL WHERE referral_id = ?", arguments: [id])
            let withdrawn = try DeliveryID.fetchAll(
                db, sql: "SELECT id FROM deliveries WHERE referral_id = ? AND state = 'pending' ORDER BY position", arguments: [id])
            try db.execute(
                sql: "UPDATE deliveries SET state = 'withdrawn', answered_at = ? WHERE referral_id = ? AND state = 'pending'",
                arguments: [at.timeIntervalSince1970, id])
            try db.execute(
                sql:
                    "UPDATE attention SET resolved_at = ?, resolved_by = 'erasure', resolution = 'personal data erased' WHERE referral_id = ? AND resolved_at IS NULL",
                arguments: [Timestamp.string(at), id])
            try Self.append(audit(withdrawn), in: db, cursor: &cursor)
            return withdrawn
        }
        if let erased { leases.withLock { for delivery in erased { $0[delivery] = nil } } }
        return erased
    }
}
