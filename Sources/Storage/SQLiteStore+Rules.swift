import Audit
import Foundation
import GRDB
import ReferralModel

extension GovernedDocument {
    /// The table its versions are stored in.
    var versionTable: String { self == .rules ? "rule_versions" : "agency_versions" }
}

extension SQLiteStore {
    public func recordVersion(_ record: RulesVersionRecord, of document: GovernedDocument, expectedLatest: Int?, audit: [AuditEntry])
        async throws -> Bool
    {
        let table = document.versionTable
        return try await writer.perform { db, cursor in
            let latest = try Int.fetchOne(db, sql: "SELECT MAX(number) FROM \(table)")
            guard latest == expectedLatest, record.number == (latest ?? 0) + 1 else { return false }
            try db.execute(
                sql: """
                    INSERT INTO \(table) (number, version, applied_at, applied_by, source, summary, text)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    record.number, record.version, record.appliedAt, record.appliedBy, record.source, record.summary, record.text ?? "",
                ])
            try Self.append(audit, in: db, cursor: &cursor)
            return true
        }
    }

    public func latestVersion(of document: GovernedDocument) async throws -> RulesVersionRecord? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM \(document.versionTable) ORDER BY number DESC LIMIT 1").map {
                Self.versionRecord($0, text: true)
            }
        }
    }

    public func versionHistory(of document: GovernedDocument, limit: Int) async throws -> [RulesVersionRecord] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT number, version, applied_at, applied_by, source, summary FROM \(document.versionTable) ORDER BY number DESC LIMIT ?",
                arguments: [limit]
            ).map { Self.versionRecord($0, text: false) }
        }
    }

    public func version(_ number: Int, of document: GovernedDocument) async throws -> RulesVersionRecord? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM \(document.versionTable) WHERE number = ?", arguments: [number]).map {
                Self.versionRecord($0, text: true)
            }
        }
    }

    private static func versionRecord(_ row: Row, text: Bool) -> RulesVersionRecord {
        RulesVersionRecord(
            number: row["number"], version: row["version"], appliedAt: row["applied_at"], appliedBy: row["applied_by"],
            source: row["source"], summary: row["summary"], text: text ? row["text"] : nil)
    }
}

extension SQLiteStore {
    public func saveProposal(_ proposal: ChangeProposal, audit: [AuditEntry]) async throws {
        try await writer.perform { db, cursor in
            try db.execute(
                sql: """
                    INSERT INTO change_proposals (id, document, base_version, version, proposed_by, proposed_at, summary, state, text)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    proposal.id, proposal.document.rawValue, proposal.baseVersion, proposal.version, proposal.proposedBy,
                    proposal.proposedAt, proposal.summary, proposal.state.rawValue, proposal.text ?? "",
                ])
            try Self.append(audit, in: db, cursor: &cursor)
        }
    }

    public func proposal(id: String) async throws -> ChangeProposal? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM change_proposals WHERE id = ?", arguments: [id]).map { try Self.proposal($0, text: true) }
        }
    }

    public func proposals(of document: GovernedDocument, limit: Int) async throws -> [ChangeProposal] {
        try await pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM change_proposals WHERE document = ? ORDER BY proposed_at DESC, id DESC LIMIT ?",
                arguments: [document.rawValue, limit]
            ).map { try Self.proposal($0, text: false) }
        }
    }

    public func decideProposal(_ id: String, decision: ChangeProposal.Decision, audit: [AuditEntry]) async throws -> Bool {
        try await writer.perform { db, cursor in
            try db.execute(
                sql: "UPDATE change_proposals SET state = ?, decided_by = ?, decided_at = ?, reason = ? WHERE id = ? AND state = 'pending'",
                arguments: [decision.state.rawValue, decision.by, decision.at, decision.reason, id])
            guard db.changesCount == 1 else { return false }
            try Self.append(audit, in: db, cursor: &cursor)
            return true
        }
    }

    private static func proposal(_ row: Row, text: Bool) throws -> ChangeProposal {
        let id: String = row["id"]
        let state = try StoredValueUnreadable.read(row["state"], as: ChangeProposal.State.self, table: "change_proposals", row: id, column: "state")
        let decidedBy: String? = row["decided_by"]
        return ChangeProposal(
            id: row["id"],
            document: try StoredValueUnreadable.read(
                row["document"], as: GovernedDocument.self, table: "change_proposals", row: id, column: "document"), baseVersion: row["base_version"],
            version: row["version"], proposedBy: row["proposed_by"], proposedAt: row["proposed_at"], summary: row["summary"], state: state,
            decision: decidedBy.map { ChangeProposal.Decision(state: state, by: $0, at: row["decided_at"] ?? "", reason: row["reason"]) },
            text: text ? row["text"] : nil)
    }
}
