import Audit
import Foundation
import GRDB
import ReferralModel
import Synchronization

/// The embedded default store: one SQLite file in WAL mode with `synchronous=FULL`, so a commit
/// is on disk before it returns. Intake writes are grouped: while one transaction commits, new
/// referrals queue and the next transaction takes them all, so one fsync serves many referrals.
///
/// One process owns the file while it delivers (`serve` holds an exclusive lock, see
/// ``StoreLock``), so leases live in that process's memory: taking one writes nothing, and a
/// restarted gateway finds every job its predecessor had in flight due again at once.
public final class SQLiteStore: SwitchboardStore {
    let pool: DatabasePool
    let writer: GroupCommitWriter
    /// The jobs leased now, by delivery id.
    let leases = Mutex<[DeliveryID: Lease]>([:])

    struct Lease {
        var token: String
        var agency: AgencyID
        var expiresAt: Date
    }

    /// Held while this store is the one that delivers from its file.
    private let lock: StoreLock?
    /// Watches the free space on the database's disk against the reserve.
    let space: DiskSpace
    /// Seals personal data at rest (with `storage.encryption`) and makes blind indexes.
    public let sealer: RecordSealer

    /// Opens (creating if needed) and migrates the database at `path`.
    /// - Parameter exclusive: claim the file for this process (the gateway does): fails with a clear
    ///   message while another process holds it.
    /// - Parameter reserveBytes: free space to keep on the disk: below it, new referrals are refused
    ///   (`StoreUnavailable`) while every other write goes on, so work in hand can finish.
    /// - Parameter encryption: the key-encryption key; with it, personal data is sealed, and a
    ///   database written without it is sealed in place first (in batches, so an interrupted start
    ///   carries on where it stopped).
    public init(path: String, exclusive: Bool = false, reserveBytes: Int64 = 0, encryption: KeyEncryptionKey? = nil) throws {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        space = DiskSpace(directory: directory.path, reserve: reserveBytes)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        lock = exclusive ? try StoreLock(database: path) : nil
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator.migrate(pool)
        sealer = try pool.write { db in try Self.openDataKeys(in: db, kek: encryption) }
        writer = GroupCommitWriter(pool: pool)
        try sealStoredRecords()
        // Each referral in a group commit is written in its own savepoint, and SQLite copies every
        // page a savepoint changes into a sub-journal first. By default that journal spills to a
        // temporary file past 64 KiB: about 80% of the writer's write calls went to it. Kept in
        // memory, it is emptied as each savepoint is released. Set after the migrations, so an
        // upgrade that builds an index over a large table still sorts on disk.
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA temp_store = MEMORY") }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE referrals (
                        id TEXT PRIMARY KEY,
                        received_at REAL NOT NULL,
                        actor TEXT NOT NULL,
                        urgency TEXT NOT NULL,
                        needs TEXT NOT NULL,
                        rules_version TEXT NOT NULL,
                        body BLOB NOT NULL
                    );
                    CREATE TABLE deliveries (
                        id TEXT PRIMARY KEY,
                        referral_id TEXT NOT NULL REFERENCES referrals(id),
                        position INTEGER NOT NULL,
                        agency TEXT NOT NULL,
                        rule TEXT NOT NULL,
                        state TEXT NOT NULL,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        next_attempt_at REAL NOT NULL,
                        lease_token TEXT,
                        lease_expires_at REAL,
                        last_error TEXT,
                        delivered_at REAL,
                        agency_reference TEXT
                    );
                    CREATE INDEX deliveries_due ON deliveries(state, next_attempt_at);
                    CREATE INDEX deliveries_referral ON deliveries(referral_id);
                    CREATE TABLE idempotency_keys (
                        actor TEXT NOT NULL,
                        key TEXT NOT NULL,
                        body_digest TEXT NOT NULL,
                        referral_id TEXT NOT NULL REFERENCES referrals(id),
                        receipt BLOB NOT NULL,
                        PRIMARY KEY (actor, key)
                    );
                    CREATE TABLE audit_events (
                        seq INTEGER PRIMARY KEY,
                        at TEXT NOT NULL,
                        kind TEXT NOT NULL,
                        actor TEXT,
                        referral_id TEXT,
                        delivery_id TEXT,
                        agency TEXT,
                        detail TEXT NOT NULL,
                        prev_hash TEXT NOT NULL,
                        hash TEXT NOT NULL
                    );
                    CREATE INDEX audit_referral ON audit_events(referral_id);
                    """)
        }
        migrator.registerMigration("v2-rule-versions") { db in
            try db.execute(
                sql: """
                    CREATE TABLE rule_versions (
                        number INTEGER PRIMARY KEY,
                        version TEXT NOT NULL,
                        applied_at TEXT NOT NULL,
                        applied_by TEXT NOT NULL,
                        source TEXT NOT NULL,
                        summary TEXT NOT NULL,
                        text TEXT NOT NULL
                    );
                    """)
        }
        migrator.registerMigration("v3-delivery-alternatives") { db in
            // Agency ids as a JSON array: who to try, in order, if this agency declines.
            try db.execute(sql: "ALTER TABLE deliveries ADD COLUMN alternatives TEXT NOT NULL DEFAULT '[]'")
        }
        migrator.registerMigration("v4-delivery-needs") { db in
            // Need codes as a JSON array: the needs that routed the referral to this agency, the only
            // ones it is told of. NULL (every delivery stored before) means all of them.
            try db.execute(sql: "ALTER TABLE deliveries ADD COLUMN needs TEXT")
        }
        migrator.registerMigration("v5-delivery-lanes") { db in
            // Each agency is a lane: leases seek (agency, due time) and never scan the queue. Lane
            // state (paused, disabled, circuit) is one JSON document per agency that has any.
            try db.execute(
                sql: """
                    CREATE INDEX deliveries_lane ON deliveries(state, agency, next_attempt_at);
                    ALTER TABLE deliveries ADD COLUMN dead_lettered_at REAL;
                    CREATE TABLE agency_lanes (agency TEXT PRIMARY KEY, state TEXT NOT NULL);
                    """)
        }
        migrator.registerMigration("v6-held-referrals") { db in
            // Why a referral sent to no one is held (`out-of-area`); NULL for every routed referral.
            try db.execute(sql: "ALTER TABLE referrals ADD COLUMN held TEXT")
        }
        migrator.registerMigration("v7-postcode-directory") { db in
            // The imported postcode directory: each import's postcodes under its number, the live
            // one marked current. A postcode's local authorities are its GSS codes, space-separated.
            try db.execute(
                sql: """
                    CREATE TABLE postcode_imports (
                        number INTEGER PRIMARY KEY, current INTEGER NOT NULL DEFAULT 0, imported_at REAL, imported_by TEXT,
                        source TEXT, postcodes INTEGER, local_authorities INTEGER
                    );
                    CREATE TABLE postcode_places (
                        postcode TEXT NOT NULL, import INTEGER NOT NULL, authorities TEXT NOT NULL, PRIMARY KEY (postcode, import)
                    ) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v8-governed-agencies-and-proposals") { db in
            // agencies.yaml is versioned as the rules are; changes may wait as proposals for a
            // second administrator.
            try db.execute(
                sql: """
                    CREATE TABLE agency_versions (
                        number INTEGER PRIMARY KEY, version TEXT NOT NULL, applied_at TEXT NOT NULL, applied_by TEXT NOT NULL,
                        source TEXT NOT NULL, summary TEXT NOT NULL, text TEXT NOT NULL
                    );
                    CREATE TABLE change_proposals (
                        id TEXT PRIMARY KEY, document TEXT NOT NULL, base_version TEXT NOT NULL, version TEXT NOT NULL,
                        proposed_by TEXT NOT NULL, proposed_at TEXT NOT NULL, summary TEXT NOT NULL, state TEXT NOT NULL,
                        decided_by TEXT, decided_at TEXT, reason TEXT, text TEXT NOT NULL
                    );
                    CREATE INDEX change_proposals_document ON change_proposals(document, proposed_at);
                    """)
        }
        migrator.registerMigration("v9-closed-loop") { db in
            // The agency's answer, the deadline to give it by, escalation once, and where a
            // re-routed delivery came from; notes (free text) and the attention list beside them.
            try db.execute(
                sql: """
                    ALTER TABLE deliveries ADD COLUMN answered_at REAL;
                    ALTER TABLE deliveries ADD COLUMN decline_reason TEXT;
                    ALTER TABLE deliveries ADD COLUMN deadline_at REAL;
                    ALTER TABLE deliveries ADD COLUMN escalated_at REAL;
                    ALTER TABLE deliveries ADD COLUMN parent_delivery TEXT;
                    CREATE INDEX deliveries_escalation ON deliveries(escalated_at, deadline_at);
                    CREATE INDEX deliveries_agency ON deliveries(agency, id);
                    CREATE TABLE referral_notes (
                        id TEXT PRIMARY KEY, referral_id TEXT NOT NULL, delivery_id TEXT, at TEXT NOT NULL, author TEXT NOT NULL,
                        kind TEXT NOT NULL, text TEXT NOT NULL
                    );
                    CREATE INDEX referral_notes_referral ON referral_notes(referral_id);
                    CREATE TABLE attention (
                        id TEXT PRIMARY KEY, referral_id TEXT NOT NULL, delivery_id TEXT, agency TEXT, reason TEXT NOT NULL,
                        since TEXT NOT NULL, resolved_at TEXT, resolved_by TEXT, resolution TEXT
                    );
                    CREATE INDEX attention_open ON attention(resolved_at, since);
                    CREATE INDEX attention_referral ON attention(referral_id);
                    """)
        }
        migrator.registerMigration("v10-retention") { db in
            // When a closed referral's personal data was removed; its body is then empty.
            try db.execute(sql: "ALTER TABLE referrals ADD COLUMN pruned_at REAL")
        }
        migrator.registerMigration("v11-notices") { db in
            // A delivery that carries a notice about its referral (JSON: type, about, reason), not the
            // referral itself; NULL for every delivery of a referral.
            try db.execute(sql: "ALTER TABLE deliveries ADD COLUMN notice TEXT")
        }
        migrator.registerMigration("v12-agency-replies") { db in
            // What the agency's system answered to the last failed attempt, bounded; for administrators.
            try db.execute(sql: "ALTER TABLE deliveries ADD COLUMN agency_reply TEXT")
        }
        migrator.registerMigration("v13-readiness") { db in
            // One row `/readyz` rewrites to prove the store takes writes.
            try db.execute(sql: "CREATE TABLE readiness (id INTEGER PRIMARY KEY CHECK (id = 1), checked_at REAL NOT NULL)")
        }
        migrator.registerMigration("v14-managed-keys") { db in
            // API keys made through the API, each with its owner; digests only, never the key.
            try db.execute(
                sql: """
                    CREATE TABLE api_keys (
                        id TEXT PRIMARY KEY, owner TEXT NOT NULL, role TEXT NOT NULL, digest TEXT NOT NULL UNIQUE,
                        organisations TEXT, agency TEXT, created_at REAL NOT NULL, created_by TEXT NOT NULL, expires_at REAL,
                        revoked_at REAL, revoked_by TEXT, previous_digest TEXT, previous_expires_at REAL
                    )
                    """)
        }
        migrator.registerMigration("v15-request-ids") { db in
            // The id of the request that brought each referral, for logs to follow it through its deliveries.
            try db.execute(sql: "ALTER TABLE referrals ADD COLUMN request_id TEXT")
        }
        migrator.registerMigration("v16-console-passwords") { db in
            // A key holder's console password, as a slow hash (scrypt), by key id; never the password.
            try db.execute(sql: "CREATE TABLE console_passwords (key_id TEXT PRIMARY KEY, hash TEXT NOT NULL, set_at REAL NOT NULL)")
        }
        migrator.registerMigration("v17-audit-hourly") { db in
            // The audit trail's events counted by hour and kind, kept as events are appended, for the
            // console's chart; counted once here from the trail an earlier version wrote.
            try db.execute(
                sql: """
                    CREATE TABLE audit_hourly (hour TEXT NOT NULL, kind TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (hour, kind)) WITHOUT ROWID;
                    INSERT INTO audit_hourly (hour, kind, n) SELECT substr(at, 1, 13), kind, count(*) FROM audit_events GROUP BY 1, 2;
                    """)
        }
        migrator.registerMigration("v18-urgency") { db in
            // Urgency changes delivery, not only deadlines: each delivery keeps its referral's urgency,
            // and leases go by due time less the urgency's head start (LeaseOrder), through an index
            // on that order for pending jobs. Attention items keep the urgency and a due time, and are
            // listed emergencies first. Rows an earlier version wrote take their referral's urgency.
            try db.execute(
                sql: """
                    ALTER TABLE deliveries ADD COLUMN urgency TEXT;
                    ALTER TABLE deliveries ADD COLUMN head_start REAL NOT NULL DEFAULT 0;
                    UPDATE deliveries SET urgency = (SELECT r.urgency FROM referrals r WHERE r.id = deliveries.referral_id);
                    UPDATE deliveries SET head_start = CASE urgency WHEN 'emergency' THEN \(LeaseOrder.headStart(.emergency))
                      WHEN 'urgent' THEN \(LeaseOrder.headStart(.urgent)) ELSE 0 END;
                    CREATE INDEX deliveries_lease_order ON deliveries(agency, next_attempt_at - head_start) WHERE state = 'pending';
                    ALTER TABLE attention ADD COLUMN urgency TEXT;
                    ALTER TABLE attention ADD COLUMN due_at TEXT;
                    UPDATE attention SET urgency = (SELECT r.urgency FROM referrals r WHERE r.id = attention.referral_id);
                    """)
        }
        migrator.registerMigration("v19-one-due-index") { db in
            // Every query by state reads deliveries_lane (state, agency, next_attempt_at), and leases
            // read deliveries_lease_order: deliveries_due only cost each write of a delivery.
            try db.execute(sql: "DROP INDEX IF EXISTS deliveries_due")
        }
        migrator.registerMigration("v20-webhook-receipts-and-originals") { db in
            // The webhook-id of each signed request a key sent in the last hour: a second is a replay.
            // And the message a referral was mapped from (a BaRS Bundle), kept with it.
            try db.execute(
                sql: """
                    CREATE TABLE webhook_receipts (key_id TEXT NOT NULL, webhook_id TEXT NOT NULL, received_at REAL NOT NULL,
                                                   PRIMARY KEY (key_id, webhook_id));
                    CREATE INDEX webhook_receipts_age ON webhook_receipts(received_at);
                    CREATE TABLE original_messages (referral_id TEXT PRIMARY KEY REFERENCES referrals(id), media_type TEXT NOT NULL,
                                                    body BLOB NOT NULL);
                    """)
        }
        migrator.registerMigration("v21-console-sessions") { db in
            // Console sessions, so a restart signs no one out and gateways sharing a database share
            // them: the cookie's value and the key only by their digests.
            try db.execute(
                sql: """
                    CREATE TABLE console_sessions (digest TEXT PRIMARY KEY, key_digest TEXT NOT NULL, csrf_token TEXT NOT NULL,
                                                   signed_in_at REAL NOT NULL, last_seen REAL NOT NULL, notice TEXT);
                    CREATE INDEX console_sessions_seen ON console_sessions(last_seen);
                    """)
        }
        migrator.registerMigration("v22-sealed-records") { db in
            // Encryption at rest: the data keys (wrapped by the key-encryption key), each referral's
            // own key (wrapped by the records data key), and blind indexes to find a person by.
            try db.execute(
                sql: """
                    CREATE TABLE data_keys (id TEXT PRIMARY KEY, kek_id TEXT NOT NULL, wrapped BLOB NOT NULL, created_at REAL NOT NULL);
                    ALTER TABLE referrals ADD COLUMN data_key TEXT;
                    ALTER TABLE referrals ADD COLUMN sealed_key BLOB;
                    ALTER TABLE referrals ADD COLUMN nhs_index TEXT;
                    ALTER TABLE referrals ADD COLUMN person_index TEXT;
                    CREATE INDEX referrals_nhs_index ON referrals(nhs_index) WHERE nhs_index IS NOT NULL;
                    CREATE INDEX referrals_person_index ON referrals(person_index) WHERE person_index IS NOT NULL;
                    """)
        }
        migrator.registerMigration("v23-retention-runs") { db in
            // The scheduled retention run of each day, claimed by one gateway.
            try db.execute(
                sql:
                    "CREATE TABLE retention_runs (day TEXT PRIMARY KEY, gateway TEXT NOT NULL, started_at REAL NOT NULL, finished_at REAL, pruned INTEGER)"
            )
        }
        migrator.registerMigration("v24-staff-sign-in") { db in
            // A console session of someone who signed in through the identity provider: who, as JSON.
            try db.execute(sql: "ALTER TABLE console_sessions ADD COLUMN identity TEXT")
        }
        migrator.registerMigration("v25-audit-tree") { db in
            // The audit log's Merkle tree: each complete node, so proofs are a few reads. Derived
            // from the events, which stay the record; filled in from the first event by the anchor.
            try db.execute(
                sql: """
                    CREATE TABLE audit_tree (level INTEGER NOT NULL, position INTEGER NOT NULL, hash BLOB NOT NULL,
                                             PRIMARY KEY (level, position)) WITHOUT ROWID
                    """)
        }
        return migrator
    }

}

extension SQLiteStore {
    public func recordWebhook(keyId: String, webhookId: String, at: Date, forgetBefore: Date) async throws -> Bool {
        try await writer.perform { db, _ in
            try db.execute(sql: "DELETE FROM webhook_receipts WHERE received_at < ?", arguments: [forgetBefore.timeIntervalSince1970])
            try db.execute(
                sql: "INSERT OR IGNORE INTO webhook_receipts (key_id, webhook_id, received_at) VALUES (?, ?, ?)",
                arguments: [keyId, webhookId, at.timeIntervalSince1970])
            return db.changesCount == 1
        }
    }
}

extension SQLiteStore {
    public func checkWritable() async throws {
        // Ready only with room to work: at least the reserve, and a megabyte whatever it is.
        try space.requireReserve(atLeast: 1 << 20)
        try await writer.perform { db, _ in
            try db.execute(
                sql: "INSERT INTO readiness (id, checked_at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
                arguments: [Date().timeIntervalSince1970])
        }
    }
}

extension SQLiteStore {
    /// What a backup copied.
    public struct BackupSummary: Sendable {
        public var referrals: Int
        public var bytes: Int64
    }

    /// Copies the database to `path` as one consistent moment (SQLite's online backup inside a
    /// read transaction), while writers go on. Written to `path.partial`, then renamed into place.
    public func backup(to path: String) async throws -> BackupSummary {
        let partial = path + ".partial"
        try? FileManager.default.removeItem(atPath: partial)
        let destination = try DatabaseQueue(path: partial)
        try pool.backup(to: destination)
        // Counted in the copy: the moment it holds, whatever has been written since.
        let referrals = try await destination.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM referrals") ?? 0 }
        try destination.close()
        try FileManager.default.moveItem(atPath: partial, toPath: path)
        let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber
        return BackupSummary(referrals: referrals, bytes: size?.int64Value ?? 0)
    }
}
