import Audit
import Foundation
import GRDB
import ReferralModel

extension SQLiteStore {
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
}
