import Audit
import Foundation
import GRDB
import ReferralModel

/// The embedded default store: one SQLite file in WAL mode with `synchronous=FULL`, so a commit
/// is on disk before it returns. Intake writes are grouped: while one transaction commits, new
/// referrals queue and the next transaction takes them all, so one fsync serves many referrals.
public final class SQLiteReferralStore: ReferralStore {
    let pool: DatabasePool
    private let writer: GroupCommitWriter

    /// Opens (creating if needed) and migrates the database at `path`.
    public init(path: String) throws {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator.migrate(pool)
        writer = GroupCommitWriter(pool: pool)
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
        return migrator
    }

    public func accept(_ record: IntakeRecord) async throws -> IntakeOutcome {
        try await writer.perform { db, cursor in try Self.write(record, in: db, audit: &cursor) }
    }

    public func report(referralId: String) async throws -> ReferralReport? {
        try await pool.read { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT received_at, actor, rules_version, urgency, needs FROM referrals WHERE id = ?", arguments: [referralId])
            else { return nil }
            let deliveries = try Row.fetchAll(
                db,
                sql: """
                    SELECT id, agency, rule, state, attempts, last_error, next_attempt_at, delivered_at, alternatives
                    FROM deliveries WHERE referral_id = ? ORDER BY position
                    """, arguments: [referralId]
            ).map { row -> ReferralReport.Delivery in
                let state = DeliveryState(rawValue: row["state"]) ?? .pending
                let deliveredAt: Double? = row["delivered_at"]
                let alternatives: String = row["alternatives"]
                return ReferralReport.Delivery(
                    deliveryId: row["id"], agency: row["agency"], rule: row["rule"], state: state, attempts: row["attempts"],
                    lastError: row["last_error"],
                    nextAttemptAt: state == .pending ? Timestamp.string(Date(timeIntervalSince1970: row["next_attempt_at"])) : nil,
                    deliveredAt: deliveredAt.map { Timestamp.string(Date(timeIntervalSince1970: $0)) },
                    alternatives: (try? JSONDecoder().decode([String].self, from: Data(alternatives.utf8))) ?? [])
            }
            let history = try Row.fetchAll(
                db, sql: "SELECT at, kind, agency, detail FROM audit_events WHERE referral_id = ? ORDER BY seq",
                arguments: [referralId]
            ).map { ReferralReport.HistoryEntry(at: $0["at"], event: $0["kind"], agency: $0["agency"], detail: $0["detail"]) }
            let needsJSON: String = row["needs"]
            let needs = (try? JSONDecoder().decode([String].self, from: Data(needsJSON.utf8))) ?? []
            return ReferralReport(
                id: referralId, status: ReferralStatus.derive(from: deliveries.map(\.state)),
                receivedAt: Timestamp.string(Date(timeIntervalSince1970: row["received_at"])), submittedBy: row["actor"],
                rulesVersion: row["rules_version"], urgency: Urgency(rawValue: row["urgency"]) ?? .routine, needs: needs,
                deliveries: deliveries, history: history)
        }
    }

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
                    RETURNING id, referral_id, agency, rule, attempts
                    """), arguments: [token, nowSeconds + leaseDuration, nowSeconds, nowSeconds, limit])
            var leased: [LeasedDelivery] = []
            for row in rows {
                let referralId: String = row["referral_id"]
                guard
                    let referralRow = try Row.fetchOne(
                        db.cachedStatement(sql: "SELECT body, received_at FROM referrals WHERE id = ?"), arguments: [referralId])
                else { continue }
                let body: Data = referralRow["body"]
                let referral = try JSONDecoder().decode(Referral.self, from: body)
                leased.append(
                    LeasedDelivery(
                        deliveryId: row["id"], referralId: referralId, agency: row["agency"], rule: row["rule"],
                        attempt: row["attempts"], leaseToken: token, referral: referral,
                        receivedAt: Date(timeIntervalSince1970: referralRow["received_at"])))
            }
            // RETURNING gives no order guarantee; identifiers sort by creation time.
            return leased.sorted { $0.deliveryId < $1.deliveryId }
        }
    }

    @discardableResult
    public func finish(_ lease: LeasedDelivery, result: AttemptResult, audit: [AuditEntry]) async throws -> Bool {
        try await writer.perform { db, cursor in
            switch result {
            case .delivered(let reference):
                try db.cachedStatement(
                    sql: """
                        UPDATE deliveries SET state = 'delivered', delivered_at = ?, agency_reference = ?, last_error = NULL,
                            lease_token = NULL, lease_expires_at = NULL
                        WHERE id = ? AND lease_token = ? AND state = 'pending'
                        """
                ).execute(arguments: [Date().timeIntervalSince1970, reference, lease.deliveryId, lease.leaseToken])
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

    public func appendAudit(_ entries: [AuditEntry]) async throws {
        try await writer.perform { db, cursor in try Self.append(entries, in: db, cursor: &cursor) }
    }

    public func auditEvents(afterSequence: Int64, limit: Int) async throws -> [AuditEvent] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT seq, at, kind, actor, referral_id, delivery_id, agency, detail, prev_hash, hash
                    FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?
                    """, arguments: [afterSequence, limit]
            ).map {
                AuditEvent(
                    sequence: $0["seq"], at: $0["at"], kind: $0["kind"], actor: $0["actor"], referralId: $0["referral_id"],
                    deliveryId: $0["delivery_id"], agency: $0["agency"], detail: $0["detail"], previousHash: $0["prev_hash"],
                    hash: $0["hash"])
            }
        }
    }

    public func recordRules(_ record: RulesVersionRecord, expectedLatest: Int?, audit: [AuditEntry]) async throws -> Bool {
        try await writer.perform { db, cursor in
            let latest = try Int.fetchOne(db, sql: "SELECT MAX(number) FROM rule_versions")
            guard latest == expectedLatest, record.number == (latest ?? 0) + 1 else { return false }
            try db.execute(
                sql: """
                    INSERT INTO rule_versions (number, version, applied_at, applied_by, source, summary, text)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    record.number, record.version, record.appliedAt, record.appliedBy, record.source, record.summary, record.text ?? "",
                ])
            try Self.append(audit, in: db, cursor: &cursor)
            return true
        }
    }

    public func latestRules() async throws -> RulesVersionRecord? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM rule_versions ORDER BY number DESC LIMIT 1").map { Self.rulesVersion($0, text: true) }
        }
    }

    public func rulesHistory(limit: Int) async throws -> [RulesVersionRecord] {
        try await pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT number, version, applied_at, applied_by, source, summary FROM rule_versions ORDER BY number DESC LIMIT ?",
                arguments: [limit]
            ).map { Self.rulesVersion($0, text: false) }
        }
    }

    public func rules(number: Int) async throws -> RulesVersionRecord? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM rule_versions WHERE number = ?", arguments: [number]).map { Self.rulesVersion($0, text: true) }
        }
    }

    private static func rulesVersion(_ row: Row, text: Bool) -> RulesVersionRecord {
        RulesVersionRecord(
            number: row["number"], version: row["version"], appliedAt: row["applied_at"], appliedBy: row["applied_by"],
            source: row["source"], summary: row["summary"], text: text ? row["text"] : nil)
    }

    /// The last event of the chain, or the genesis when the log is empty.
    static func auditHead(_ db: Database) throws -> AuditCursor {
        let head = try Row.fetchOne(db, sql: "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
        return AuditCursor(sequence: head?["seq"] ?? 0, hash: head?["hash"] ?? AuditChain.genesis)
    }

    /// Chains and appends audit events inside the caller's write transaction.
    static func append(_ entries: [AuditEntry], in db: Database, cursor: inout AuditCursor) throws {
        let statement = try db.cachedStatement(
            sql: """
                INSERT INTO audit_events (seq, at, kind, actor, referral_id, delivery_id, agency, detail, prev_hash, hash)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
        for entry in entries {
            let event = AuditChain.seal(entry, sequence: cursor.sequence + 1, previousHash: cursor.hash)
            try statement.execute(arguments: [
                event.sequence, event.at, event.kind, event.actor, event.referralId, event.deliveryId, event.agency,
                event.detail, event.previousHash, event.hash,
            ])
            cursor = AuditCursor(sequence: event.sequence, hash: event.hash)
        }
    }

    /// Stores one accepted referral with its jobs, idempotency claim and audit events.
    static func write(_ record: IntakeRecord, in db: Database, audit cursor: inout AuditCursor) throws -> IntakeOutcome {
        if let claim = record.idempotency,
            let previous = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT body_digest, receipt FROM idempotency_keys WHERE actor = ? AND key = ?"),
                arguments: [record.actor, claim.key])
        {
            let digest: String = previous["body_digest"]
            guard digest == claim.bodyDigest else { return .idempotencyConflict }
            let receipt: Data = previous["receipt"]
            return .replayed(try JSONDecoder().decode(SubmissionReceipt.self, from: receipt))
        }
        // Need codes and agency ids are plain words (letters, digits, hyphens): nothing to escape.
        func jsonList(_ words: [String]) -> String { "[" + words.map { "\"\($0)\"" }.joined(separator: ",") + "]" }
        let needs = jsonList(record.referral.needs)
        try db.cachedStatement(
            sql: """
                INSERT INTO referrals (id, received_at, actor, urgency, needs, rules_version, body)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [
            record.referralId, record.receivedAt.timeIntervalSince1970, record.actor, record.referral.urgency.rawValue, needs,
            record.rulesVersion, record.referral.canonicalJSON(),
        ])
        let insertDelivery = try db.cachedStatement(
            sql: """
                INSERT INTO deliveries (id, referral_id, position, agency, rule, state, attempts, next_attempt_at, alternatives)
                VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?)
                """)
        for (position, route) in record.routes.enumerated() {
            try insertDelivery.execute(arguments: [
                route.deliveryId, record.referralId, position, route.agency, route.rule, record.receivedAt.timeIntervalSince1970,
                jsonList(record.alternatives[route.deliveryId] ?? []),
            ])
        }
        let receipt = SubmissionReceipt(id: record.referralId, status: .routed, routes: record.routes, rulesVersion: record.rulesVersion)
        if let claim = record.idempotency {
            try db.cachedStatement(
                sql: "INSERT INTO idempotency_keys (actor, key, body_digest, referral_id, receipt) VALUES (?, ?, ?, ?, ?)"
            ).execute(arguments: [record.actor, claim.key, claim.bodyDigest, record.referralId, receipt.canonicalJSON()])
        }
        try append(record.audit, in: db, cursor: &cursor)
        return .accepted(receipt)
    }
}
