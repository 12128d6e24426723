import Audit
import Foundation
import PostgresNIO
import ReferralModel
import Storage

extension PostgresStore {
    public func recordVersion(_ record: RulesVersionRecord, of document: GovernedDocument, expectedLatest: Int?, audit: [AuditEntry])
        async throws -> Bool
    {
        let table = Self.versionTable(document)
        return try await write { session in
            // Two gateways applying at once: the second waits for the first's row, then its insert
            // conflicts on the number and it is told another version was stored first.
            let latest = try await session.one("SELECT MAX(number) AS latest FROM \(unescaped: table)").map { try $0("latest", as: Int?.self) } ?? nil
            guard latest == expectedLatest, record.number == (latest ?? 0) + 1 else { return false }
            let inserted = try await session.rows(
                """
                INSERT INTO \(unescaped: table) (number, version, applied_at, applied_by, source, summary, text)
                VALUES (\(record.number), \(record.version), \(record.appliedAt), \(record.appliedBy), \(record.source), \(record.summary),
                        \(record.text ?? ""))
                ON CONFLICT (number) DO NOTHING RETURNING number
                """)
            guard !inserted.isEmpty else { return false }
            session.append(audit)
            return true
        }
    }

    public func latestVersion(of document: GovernedDocument) async throws -> RulesVersionRecord? {
        try await single { session in
            try await session.one("SELECT * FROM \(unescaped: Self.versionTable(document)) ORDER BY number DESC LIMIT 1").map {
                try Self.versionRecord($0, text: true)
            }
        }
    }

    public func versionHistory(of document: GovernedDocument, limit: Int) async throws -> [RulesVersionRecord] {
        try await single { session in
            try await session.rows(
                """
                SELECT number, version, applied_at, applied_by, source, summary FROM \(unescaped: Self.versionTable(document))
                ORDER BY number DESC LIMIT \(limit)
                """
            ).map { try Self.versionRecord($0, text: false) }
        }
    }

    public func version(_ number: Int, of document: GovernedDocument) async throws -> RulesVersionRecord? {
        try await single { session in
            try await session.one("SELECT * FROM \(unescaped: Self.versionTable(document)) WHERE number = \(number)").map {
                try Self.versionRecord($0, text: true)
            }
        }
    }

    static func versionTable(_ document: GovernedDocument) -> String { document == .rules ? "rule_versions" : "agency_versions" }

    private static func versionRecord(_ row: PGRow, text: Bool) throws -> RulesVersionRecord {
        RulesVersionRecord(
            number: try row("number"), version: try row("version"), appliedAt: try row("applied_at"), appliedBy: try row("applied_by"),
            source: try row("source"), summary: try row("summary"), text: text ? try row("text") : nil)
    }
}

extension PostgresStore {
    public func saveProposal(_ proposal: ChangeProposal, audit: [AuditEntry]) async throws {
        try await write { session in
            try await session.execute(
                """
                INSERT INTO change_proposals (id, document, base_version, version, proposed_by, proposed_at, summary, state, text)
                VALUES (\(proposal.id), \(proposal.document.rawValue), \(proposal.baseVersion), \(proposal.version), \(proposal.proposedBy),
                        \(proposal.proposedAt), \(proposal.summary), \(proposal.state.rawValue), \(proposal.text ?? ""))
                """)
            session.append(audit)
        }
    }

    public func proposal(id: String) async throws -> ChangeProposal? {
        try await single { session in
            try await session.one("SELECT * FROM change_proposals WHERE id = \(id)").map { try Self.proposal($0, text: true) }
        }
    }

    public func proposals(of document: GovernedDocument, limit: Int) async throws -> [ChangeProposal] {
        try await single { session in
            try await session.rows(
                "SELECT * FROM change_proposals WHERE document = \(document.rawValue) ORDER BY proposed_at DESC, id DESC LIMIT \(limit)"
            ).map { try Self.proposal($0, text: false) }
        }
    }

    public func decideProposal(_ id: String, decision: ChangeProposal.Decision, audit: [AuditEntry]) async throws -> Bool {
        try await write { session in
            let changed = try await session.changes(
                """
                UPDATE change_proposals SET state = \(decision.state.rawValue), decided_by = \(decision.by), decided_at = \(decision.at),
                  reason = \(decision.reason)
                WHERE id = \(id) AND state = 'pending'
                """)
            guard changed == 1 else { return false }
            session.append(audit)
            return true
        }
    }

    private static func proposal(_ row: PGRow, text: Bool) throws -> ChangeProposal {
        let id: String = try row("id")
        let state = try StoredValueUnreadable.read(
            try row("state"), as: ChangeProposal.State.self, table: "change_proposals", row: id, column: "state")
        let decidedBy: String? = try row("decided_by")
        return ChangeProposal(
            id: id,
            document: try StoredValueUnreadable.read(
                try row("document"), as: GovernedDocument.self, table: "change_proposals", row: id, column: "document"),
            baseVersion: try row("base_version"),
            version: try row("version"), proposedBy: try row("proposed_by"), proposedAt: try row("proposed_at"), summary: try row("summary"),
            state: state,
            decision: try decidedBy.map {
                ChangeProposal.Decision(state: state, by: $0, at: try row("decided_at") ?? "", reason: try row("reason"))
            },
            text: text ? try row("text") : nil)
    }
}
