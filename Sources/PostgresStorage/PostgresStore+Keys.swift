import Audit
import Foundation
import PostgresNIO
import ReferralModel
import Storage

extension PostgresStore {
    public func managedKeys() async throws -> [ManagedKey] {
        try await single { session in try await session.rows("SELECT * FROM api_keys ORDER BY created_at, id").map { try Self.managedKey($0) } }
    }

    public func createKey(_ key: ManagedKey, audit: AuditEntry) async throws -> Bool {
        try await write { session in
            let inserted = try await session.rows(
                """
                INSERT INTO api_keys (id, owner, role, digest, organisations, agency, created_at, created_by, expires_at)
                VALUES (\(key.id), \(key.owner), \(key.role), \(Hex.encode(key.digest)), \(key.organisations.map(StoredText.json)), \(key.agency),
                        \(key.createdAt.timeIntervalSince1970), \(key.createdBy), \(key.expiresAt?.timeIntervalSince1970))
                ON CONFLICT (id) DO NOTHING RETURNING id
                """)
            guard !inserted.isEmpty else { return false }
            session.append([audit])
            return true
        }
    }

    public func revokeKey(id: String, at: Date, by: String, audit: @escaping @Sendable (ManagedKey) -> AuditEntry) async throws -> ManagedKey? {
        try await write { session in
            guard
                let row = try await session.one(
                    """
                    UPDATE api_keys SET revoked_at = \(at.timeIntervalSince1970), revoked_by = \(by) WHERE id = \(id) AND revoked_at IS NULL
                    RETURNING *
                    """)
            else { return nil }
            let key = try Self.managedKey(row)
            session.append([audit(key)])
            return key
        }
    }

    public func rotateKey(
        id: String, digest: [UInt8], at: Date, previousValidUntil: Date, audit: @escaping @Sendable (ManagedKey) -> AuditEntry
    ) async throws -> ManagedKey? {
        try await write { session in
            guard
                let row = try await session.one(
                    """
                    UPDATE api_keys SET previous_digest = digest, previous_expires_at = \(previousValidUntil.timeIntervalSince1970),
                      digest = \(Hex.encode(digest))
                    WHERE id = \(id) AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > \(at.timeIntervalSince1970))
                    RETURNING *
                    """)
            else { return nil }
            let key = try Self.managedKey(row)
            session.append([audit(key)])
            return key
        }
    }

    private static func managedKey(_ row: PGRow) throws -> ManagedKey {
        let id: String = try row("id")
        guard let digest = Hex.decode(try row("digest")) else { throw StoredValueUnreadable(table: "api_keys", row: id, column: "digest") }
        var key = ManagedKey(
            id: id, owner: try row("owner"), role: try row("role"), digest: digest,
            organisations: StoredText.words(try row("organisations")), agency: try row("agency"),
            createdAt: try row.date("created_at") ?? .distantPast, createdBy: try row("created_by"), expiresAt: try row.date("expires_at"))
        key.revokedAt = try row.date("revoked_at")
        key.revokedBy = try row("revoked_by")
        key.previousDigest = (try row("previous_digest", as: String?.self)).flatMap(Hex.decode)
        key.previousExpiresAt = try row.date("previous_expires_at")
        return key
    }

    public func consolePassword(keyId: String) async throws -> String? {
        try await single { session in try await session.one("SELECT hash FROM console_passwords WHERE key_id = \(keyId)")?("hash") }
    }

    public func setConsolePassword(keyId: String, hash: String, at: Date, audit: AuditEntry) async throws {
        try await write { session in
            try await session.execute(
                """
                INSERT INTO console_passwords (key_id, hash, set_at) VALUES (\(keyId), \(hash), \(at.timeIntervalSince1970))
                ON CONFLICT (key_id) DO UPDATE SET hash = EXCLUDED.hash, set_at = EXCLUDED.set_at
                """)
            session.append([audit])
        }
    }
}

extension PostgresStore {
    public func recordWebhook(keyId: String, webhookId: String, at: Date, forgetBefore: Date) async throws -> Bool {
        try await write { session in
            try await session.execute("DELETE FROM webhook_receipts WHERE received_at < \(forgetBefore.timeIntervalSince1970)")
            return try await !session.rows(
                """
                INSERT INTO webhook_receipts (key_id, webhook_id, received_at) VALUES (\(keyId), \(webhookId), \(at.timeIntervalSince1970))
                ON CONFLICT DO NOTHING RETURNING key_id
                """
            ).isEmpty
        }
    }
}
