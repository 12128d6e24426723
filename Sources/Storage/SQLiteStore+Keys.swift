import Audit
import Foundation
import GRDB
import ReferralModel

extension SQLiteStore {
    public func managedKeys() async throws -> [ManagedKey] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM api_keys ORDER BY created_at, id").map(Self.managedKey)
        }
    }

    public func createKey(_ key: ManagedKey, audit: AuditEntry) async throws -> Bool {
        try await writer.perform { db, cursor in
            guard try Int.fetchOne(db, sql: "SELECT 1 FROM api_keys WHERE id = ?", arguments: [key.id]) == nil else { return false }
            try db.execute(
                sql: """
                    INSERT INTO api_keys (id, owner, role, digest, organisations, agency, created_at, created_by, expires_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    key.id, key.owner, key.role, Hex.encode(key.digest), key.organisations.map { StoredText.json($0) }, key.agency,
                    key.createdAt.timeIntervalSince1970, key.createdBy, key.expiresAt?.timeIntervalSince1970,
                ])
            try Self.append([audit], in: db, cursor: &cursor)
            return true
        }
    }

    public func revokeKey(id: String, at: Date, by: String, audit: @escaping @Sendable (ManagedKey) -> AuditEntry) async throws -> ManagedKey? {
        try await writer.perform { db, cursor in
            try db.execute(
                sql: "UPDATE api_keys SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL",
                arguments: [at.timeIntervalSince1970, by, id])
            guard db.changesCount == 1, let row = try Row.fetchOne(db, sql: "SELECT * FROM api_keys WHERE id = ?", arguments: [id]) else {
                return nil
            }
            let key = try Self.managedKey(row)
            try Self.append([audit(key)], in: db, cursor: &cursor)
            return key
        }
    }

    public func rotateKey(
        id: String, digest: [UInt8], at: Date, previousValidUntil: Date, audit: @escaping @Sendable (ManagedKey) -> AuditEntry
    ) async throws -> ManagedKey? {
        try await writer.perform { db, cursor in
            try db.execute(
                sql: """
                    UPDATE api_keys SET previous_digest = digest, previous_expires_at = ?, digest = ?
                    WHERE id = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)
                    """,
                arguments: [previousValidUntil.timeIntervalSince1970, Hex.encode(digest), id, at.timeIntervalSince1970])
            guard db.changesCount == 1, let row = try Row.fetchOne(db, sql: "SELECT * FROM api_keys WHERE id = ?", arguments: [id]) else {
                return nil
            }
            let key = try Self.managedKey(row)
            try Self.append([audit(key)], in: db, cursor: &cursor)
            return key
        }
    }

    private static func managedKey(_ row: Row) throws -> ManagedKey {
        func digest(_ hex: String, of id: String) throws -> [UInt8] {
            guard let digest = Hex.decode(hex) else { throw StoredValueUnreadable(table: "api_keys", row: id, column: "digest") }
            return digest
        }
        func date(_ column: String) -> Date? { (row[column] as Double?).map(Date.init(timeIntervalSince1970:)) }
        var key = ManagedKey(
            id: row["id"], owner: row["owner"], role: row["role"], digest: try digest(row["digest"], of: row["id"]),
            organisations: (row["organisations"] as String?).flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) },
            agency: row["agency"], createdAt: date("created_at") ?? .distantPast, createdBy: row["created_by"], expiresAt: date("expires_at"))
        key.revokedAt = date("revoked_at")
        key.revokedBy = row["revoked_by"]
        key.previousDigest = (row["previous_digest"] as String?).flatMap(Hex.decode)
        key.previousExpiresAt = date("previous_expires_at")
        return key
    }

    public func consolePassword(keyId: String) async throws -> String? {
        try await pool.read { db in try String.fetchOne(db, sql: "SELECT hash FROM console_passwords WHERE key_id = ?", arguments: [keyId]) }
    }

    public func setConsolePassword(keyId: String, hash: String, at: Date, audit: AuditEntry) async throws {
        try await writer.perform { db, cursor in
            try db.execute(
                sql: """
                    INSERT INTO console_passwords (key_id, hash, set_at) VALUES (?, ?, ?)
                    ON CONFLICT (key_id) DO UPDATE SET hash = excluded.hash, set_at = excluded.set_at
                    """, arguments: [keyId, hash, at.timeIntervalSince1970])
            try Self.append([audit], in: db, cursor: &cursor)
        }
    }
}
