import Foundation
import Logging
import PostgresNIO
import ReferralModel
import Storage

/// The PostgreSQL schema, as numbered migrations applied at start. Each runs in one transaction
/// under an advisory lock, so gateways starting together migrate once; a migration is never edited
/// once released, only followed by another. The first is the SQLite store's fifteen as one.
enum PostgresMigrations {
    static let lock: Int64 = 0x5357_4244_4D49_4752

    static let migrations: [(version: Int, name: String, sql: [String])] = [
        (
            1, "schema",
            [
                """
                CREATE TABLE referrals (
                    id TEXT PRIMARY KEY, received_at DOUBLE PRECISION NOT NULL, actor TEXT NOT NULL, urgency TEXT NOT NULL,
                    needs TEXT NOT NULL, rules_version TEXT NOT NULL, body BYTEA NOT NULL, held TEXT, pruned_at DOUBLE PRECISION,
                    request_id TEXT
                )
                """,
                """
                CREATE TABLE deliveries (
                    id TEXT PRIMARY KEY, referral_id TEXT NOT NULL REFERENCES referrals(id), position INTEGER NOT NULL,
                    agency TEXT NOT NULL, rule TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at DOUBLE PRECISION NOT NULL, lease_token TEXT, lease_expires_at DOUBLE PRECISION, last_error TEXT,
                    delivered_at DOUBLE PRECISION, agency_reference TEXT, alternatives TEXT NOT NULL DEFAULT '[]', needs TEXT,
                    dead_lettered_at DOUBLE PRECISION, answered_at DOUBLE PRECISION, decline_reason TEXT, deadline_at DOUBLE PRECISION,
                    escalated_at DOUBLE PRECISION, parent_delivery TEXT, notice TEXT, agency_reply TEXT,
                    created BIGSERIAL
                )
                """,
                "CREATE INDEX deliveries_lane ON deliveries(state, agency, next_attempt_at)",
                "CREATE INDEX deliveries_leased ON deliveries(agency, lease_expires_at) WHERE lease_token IS NOT NULL",
                "CREATE INDEX deliveries_referral ON deliveries(referral_id)",
                "CREATE INDEX deliveries_escalation ON deliveries(escalated_at, deadline_at)",
                "CREATE INDEX deliveries_agency ON deliveries(agency, id)",
                """
                CREATE TABLE idempotency_keys (
                    actor TEXT NOT NULL, key TEXT NOT NULL, body_digest TEXT NOT NULL,
                    referral_id TEXT NOT NULL REFERENCES referrals(id) DEFERRABLE INITIALLY DEFERRED, receipt BYTEA NOT NULL,
                    PRIMARY KEY (actor, key)
                )
                """,
                """
                CREATE TABLE audit_events (
                    seq BIGINT PRIMARY KEY, at TEXT NOT NULL, kind TEXT NOT NULL, actor TEXT, referral_id TEXT, delivery_id TEXT,
                    agency TEXT, detail TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL
                )
                """,
                "CREATE INDEX audit_referral ON audit_events(referral_id)",
                """
                CREATE TABLE rule_versions (
                    number INTEGER PRIMARY KEY, version TEXT NOT NULL, applied_at TEXT NOT NULL, applied_by TEXT NOT NULL,
                    source TEXT NOT NULL, summary TEXT NOT NULL, text TEXT NOT NULL
                )
                """,
                "CREATE TABLE agency_versions (LIKE rule_versions INCLUDING ALL)",
                "CREATE TABLE agency_lanes (agency TEXT PRIMARY KEY, state TEXT NOT NULL)",
                """
                CREATE TABLE postcode_imports (
                    number BIGSERIAL PRIMARY KEY, current BOOLEAN NOT NULL DEFAULT FALSE, imported_at DOUBLE PRECISION, imported_by TEXT,
                    source TEXT, postcodes INTEGER, local_authorities INTEGER
                )
                """,
                """
                CREATE TABLE postcode_places (
                    postcode TEXT NOT NULL, import BIGINT NOT NULL, authorities TEXT NOT NULL, PRIMARY KEY (postcode, import)
                )
                """,
                """
                CREATE TABLE change_proposals (
                    id TEXT PRIMARY KEY, document TEXT NOT NULL, base_version TEXT NOT NULL, version TEXT NOT NULL,
                    proposed_by TEXT NOT NULL, proposed_at TEXT NOT NULL, summary TEXT NOT NULL, state TEXT NOT NULL,
                    decided_by TEXT, decided_at TEXT, reason TEXT, text TEXT NOT NULL
                )
                """,
                "CREATE INDEX change_proposals_document ON change_proposals(document, proposed_at)",
                """
                CREATE TABLE referral_notes (
                    id TEXT PRIMARY KEY, referral_id TEXT NOT NULL, delivery_id TEXT, at TEXT NOT NULL, author TEXT NOT NULL,
                    kind TEXT NOT NULL, text TEXT NOT NULL
                )
                """,
                "CREATE INDEX referral_notes_referral ON referral_notes(referral_id)",
                """
                CREATE TABLE attention (
                    id TEXT PRIMARY KEY, referral_id TEXT NOT NULL, delivery_id TEXT, agency TEXT, reason TEXT NOT NULL,
                    since TEXT NOT NULL, resolved_at TEXT, resolved_by TEXT, resolution TEXT
                )
                """,
                "CREATE INDEX attention_open ON attention(resolved_at, since)",
                "CREATE INDEX attention_referral ON attention(referral_id)",
                "CREATE TABLE readiness (id INTEGER PRIMARY KEY CHECK (id = 1), checked_at DOUBLE PRECISION NOT NULL)",
                """
                CREATE TABLE api_keys (
                    id TEXT PRIMARY KEY, owner TEXT NOT NULL, role TEXT NOT NULL, digest TEXT NOT NULL UNIQUE, organisations TEXT,
                    agency TEXT, created_at DOUBLE PRECISION NOT NULL, created_by TEXT NOT NULL, expires_at DOUBLE PRECISION,
                    revoked_at DOUBLE PRECISION, revoked_by TEXT, previous_digest TEXT, previous_expires_at DOUBLE PRECISION
                )
                """,
            ]
        ),
        (
            2, "console-passwords",
            ["CREATE TABLE console_passwords (key_id TEXT PRIMARY KEY, hash TEXT NOT NULL, set_at DOUBLE PRECISION NOT NULL)"]
        ),
        (
            3, "audit-hourly",
            [
                "CREATE TABLE audit_hourly (hour TEXT NOT NULL, kind TEXT NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (hour, kind))",
                "INSERT INTO audit_hourly (hour, kind, n) SELECT substr(at, 1, 13), kind, count(*) FROM audit_events GROUP BY 1, 2",
            ]
        ),
        (
            // Urgency changes delivery: each delivery keeps its referral's urgency and is leased by due
            // time less the urgency's head start; attention items keep the urgency and a due time.
            4, "urgency",
            [
                "ALTER TABLE deliveries ADD COLUMN urgency TEXT",
                "ALTER TABLE deliveries ADD COLUMN head_start DOUBLE PRECISION NOT NULL DEFAULT 0",
                "UPDATE deliveries d SET urgency = r.urgency FROM referrals r WHERE r.id = d.referral_id",
                """
                UPDATE deliveries SET head_start = CASE urgency WHEN 'emergency' THEN \(LeaseOrder.headStart(.emergency))
                  WHEN 'urgent' THEN \(LeaseOrder.headStart(.urgent)) ELSE 0 END
                """,
                "CREATE INDEX deliveries_lease_order ON deliveries(agency, (next_attempt_at - head_start)) WHERE state = 'pending'",
                "ALTER TABLE attention ADD COLUMN urgency TEXT",
                "ALTER TABLE attention ADD COLUMN due_at TEXT",
                "UPDATE attention a SET urgency = r.urgency FROM referrals r WHERE r.id = a.referral_id",
            ]
        ),
        (
            // The webhook-id of each signed request a key sent in the last hour: a second is a replay.
            // And the message a referral was mapped from (a BaRS Bundle), kept with it.
            5, "webhook-receipts-and-originals",
            [
                """
                CREATE TABLE webhook_receipts (key_id TEXT NOT NULL, webhook_id TEXT NOT NULL, received_at DOUBLE PRECISION NOT NULL,
                                               PRIMARY KEY (key_id, webhook_id))
                """,
                "CREATE INDEX webhook_receipts_age ON webhook_receipts(received_at)",
                "CREATE TABLE original_messages (referral_id TEXT PRIMARY KEY REFERENCES referrals(id), media_type TEXT NOT NULL, body BYTEA NOT NULL)",
            ]
        ),
        (
            // Console sessions, shared by every gateway on the database: the cookie's value and the
            // key only by their digests.
            6, "console-sessions",
            [
                """
                CREATE TABLE console_sessions (digest TEXT PRIMARY KEY, key_digest TEXT NOT NULL, csrf_token TEXT NOT NULL,
                                               signed_in_at DOUBLE PRECISION NOT NULL, last_seen DOUBLE PRECISION NOT NULL, notice TEXT)
                """,
                "CREATE INDEX console_sessions_seen ON console_sessions(last_seen)",
            ]
        ),
        (
            // Encryption at rest: the data keys (wrapped by the key-encryption key), each referral's
            // own key (wrapped by the records data key), and blind indexes to find a person by.
            7, "sealed-records",
            [
                "CREATE TABLE data_keys (id TEXT PRIMARY KEY, kek_id TEXT NOT NULL, wrapped BYTEA NOT NULL, created_at DOUBLE PRECISION NOT NULL)",
                "ALTER TABLE referrals ADD COLUMN data_key TEXT, ADD COLUMN sealed_key BYTEA, ADD COLUMN nhs_index TEXT, ADD COLUMN person_index TEXT",
                "CREATE INDEX referrals_nhs_index ON referrals(nhs_index) WHERE nhs_index IS NOT NULL",
                "CREATE INDEX referrals_person_index ON referrals(person_index) WHERE person_index IS NOT NULL",
            ]
        ),
        (
            // The scheduled retention run of each day, claimed by one gateway.
            8, "retention-runs",
            [
                """
                CREATE TABLE retention_runs (day TEXT PRIMARY KEY, gateway TEXT NOT NULL, started_at DOUBLE PRECISION NOT NULL,
                                             finished_at DOUBLE PRECISION, pruned INTEGER)
                """
            ]
        ),
        (
            // A console session of someone who signed in through the identity provider: who, as JSON.
            9, "staff-sign-in", ["ALTER TABLE console_sessions ADD COLUMN identity TEXT"]
        ),
        (
            // The audit log's Merkle tree: each complete node, so proofs are a few reads. Derived
            // from the events, which stay the record; filled in from the first event by the anchor.
            10, "audit-tree",
            ["CREATE TABLE audit_tree (level INTEGER NOT NULL, position BIGINT NOT NULL, hash BYTEA NOT NULL, PRIMARY KEY (level, position))"]
        ),
        (
            // Audit events written in their change's transaction without a lock, chained onto the
            // log by one gateway at a time (the sequencer) within a fraction of a second.
            11, "audit-pending",
            [
                """
                CREATE TABLE audit_pending (id BIGSERIAL PRIMARY KEY, at TEXT NOT NULL, kind TEXT NOT NULL, actor TEXT, referral_id TEXT,
                                            delivery_id TEXT, agency TEXT, detail TEXT NOT NULL, written_at DOUBLE PRECISION NOT NULL)
                """,
                "CREATE INDEX audit_pending_referral ON audit_pending(referral_id) WHERE referral_id IS NOT NULL",
            ]
        ),
    ]

    /// Migrates over a connection of its own, made directly rather than through the pool, so a
    /// gateway that cannot reach its database says why (refused, the password, TLS, no such
    /// database) instead of timing out waiting for the pool.
    /// Then opens the data keys with `kek` (creating them on first use), in the same transaction.
    static func migrate(configuration: PostgresConnection.Configuration, kek: KeyEncryptionKey?, logger: Logger) async throws -> RecordSealer {
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
        } catch {
            throw PostgresFault.connecting(error, to: configuration)
        }
        defer { Task { try? await connection.close() } }
        let session = PostgresSession(connection: connection, logger: logger)
        try await session.execute("BEGIN")
        do {
            // Another gateway may be migrating: wait for it, longer than an ordinary statement may take.
            try await session.execute("SET LOCAL statement_timeout = '120s'")
            try await session.execute("SET LOCAL lock_timeout = '120s'")
            try await session.execute("SELECT pg_advisory_xact_lock(\(lock))")
            try await session.execute(
                "CREATE TABLE IF NOT EXISTS switchboard_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            let applied = Set(try await session.rows("SELECT version FROM switchboard_migrations").map { try $0("version", as: Int.self) })
            for migration in migrations where !applied.contains(migration.version) {
                for statement in migration.sql { try await session.execute(PostgresQuery(unsafeSQL: statement)) }
                try await session.execute("INSERT INTO switchboard_migrations (version, name) VALUES (\(migration.version), \(migration.name))")
                logger.notice("Database migrated", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
            }
            if let newest = applied.max(), newest > migrations.last?.version ?? 0 {
                throw NewerSchema(found: newest, known: migrations.last?.version ?? 0)
            }
            let sealer = try await openDataKeys(kek: kek, in: session)
            try await session.execute("COMMIT")
            return sealer
        } catch {
            await session.rollBack(after: error)
            throw error
        }
    }

    static func openDataKeys(kek: KeyEncryptionKey?, in session: PostgresSession) async throws -> RecordSealer {
        let stored = try await session.rows("SELECT id, kek_id, wrapped FROM data_keys").map {
            StoredDataKey(id: try $0("id", as: String.self), kekId: try $0("kek_id", as: String.self), wrapped: try $0("wrapped", as: Data.self))
        }
        let opened = try RecordSealer.open(stored: stored, kek: kek)
        for key in opened.write {
            try await session.execute(
                """
                INSERT INTO data_keys (id, kek_id, wrapped, created_at) VALUES (\(key.id), \(key.kekId), \(key.wrapped), \(Date().timeIntervalSince1970))
                ON CONFLICT (id) DO UPDATE SET kek_id = excluded.kek_id, wrapped = excluded.wrapped
                """)
        }
        return opened.sealer
    }

    /// A newer gateway migrated this database: running an older one on it could lose what it stores.
    struct NewerSchema: Error, CustomStringConvertible {
        var found: Int
        var known: Int
        var description: String {
            "the database schema is version \(found), newer than this gateway knows (\(known)): run the newer gateway, or restore a backup"
        }
    }
}
