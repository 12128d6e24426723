import Audit
import Foundation
import PostgresNIO
import Storage

extension PostgresStore {
    public func pruneClosedReferrals(_ policy: RetentionPolicy, at: Date, audit: @escaping @Sendable (Int) -> AuditEntry) async throws -> Int {
        let (before, accepted) = (policy.receivedBefore.timeIntervalSince1970, policy.acceptedBefore?.timeIntervalSince1970)
        return try await write { session in
            let ids = try await session.rows(
                """
                UPDATE referrals r SET body = '\\x'::bytea, pruned_at = \(at.timeIntervalSince1970), data_key = NULL, sealed_key = NULL,
                  nhs_index = NULL, person_index = NULL
                WHERE r.received_at < \(before) AND r.pruned_at IS NULL
                  AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.referral_id = r.id
                                  AND (d.state IN ('pending', 'delivered', 'returned')
                                       OR (d.state = 'accepted' AND (\(accepted)::float8 IS NULL
                                                                     OR COALESCE(d.answered_at, d.delivered_at, 0) >= \(accepted)::float8))
                                       OR (d.state = 'dead-lettered'
                                           AND NOT EXISTS (SELECT 1 FROM attention a WHERE a.delivery_id = d.id AND a.resolved_at IS NOT NULL))))
                  AND NOT EXISTS (SELECT 1 FROM attention a WHERE a.referral_id = r.id AND a.resolved_at IS NULL)
                RETURNING r.id
                """
            ).map { try $0("id", as: String.self) }
            guard !ids.isEmpty else { return 0 }
            try await session.execute("DELETE FROM referral_notes WHERE referral_id = ANY(\(ids))")
            try await session.execute("DELETE FROM original_messages WHERE referral_id = ANY(\(ids))")
            try await session.execute("UPDATE deliveries SET agency_reply = NULL WHERE referral_id = ANY(\(ids))")
            session.append([audit(ids.count)])
            return ids.count
        }
    }
}

extension PostgresStore {
    public func claimRetentionRun(day: String, gateway: String, at: Date) async throws -> Bool {
        try await write { session in
            try await session.changes(
                """
                INSERT INTO retention_runs (day, gateway, started_at) VALUES (\(day), \(gateway), \(at.timeIntervalSince1970))
                ON CONFLICT (day) DO NOTHING
                """) == 1
        }
    }

    public func finishRetentionRun(day: String, at: Date, pruned: Int) async throws {
        try await write { session in
            try await session.execute("UPDATE retention_runs SET finished_at = \(at.timeIntervalSince1970), pruned = \(pruned) WHERE day = \(day)")
        }
    }

    public func lastRetentionRun() async throws -> RetentionRun? {
        try await single { session in
            try await session.one("SELECT * FROM retention_runs ORDER BY day DESC LIMIT 1").map { row in
                RetentionRun(
                    day: try row("day"), gateway: try row("gateway"), startedAt: try row.date("started_at") ?? .distantPast,
                    finishedAt: try row.date("finished_at"), pruned: try row("pruned"))
            }
        }
    }
}

extension PostgresStore {
    public func beginPostcodeImport() async throws -> Int {
        try await write { session in
            try await session.one("INSERT INTO postcode_imports (current) VALUES (FALSE) RETURNING number")?("number") ?? 0
        }
    }

    public func addPostcodes(_ places: [PostcodePlace], toImport number: Int) async throws {
        guard !places.isEmpty else { return }
        try await write { session in
            try await session.execute(
                """
                INSERT INTO postcode_places (postcode, import, authorities)
                SELECT p, \(number), a FROM unnest(\(places.map(\.postcode))::text[], \(places.map { $0.localAuthorities.joined(separator: " ") })::text[]) AS u(p, a)
                ON CONFLICT (postcode, import) DO UPDATE SET authorities = excluded.authorities
                """)
        }
    }

    public func finishPostcodeImport(_ number: Int, info: PostcodeDirectoryInfo, audit: [AuditEntry]) async throws {
        try await write { session in
            try await session.execute("UPDATE postcode_imports SET current = FALSE WHERE current")
            try await session.execute(
                """
                UPDATE postcode_imports SET current = TRUE, imported_at = \(info.importedAt.timeIntervalSince1970), imported_by = \(info.importedBy),
                  source = \(info.source), postcodes = \(info.postcodes), local_authorities = \(info.localAuthorities)
                WHERE number = \(number)
                """)
            session.append(audit)
        }
        // The imports it replaces (and any left unfinished by a crash) go a batch at a time.
        while try await write({ session in
            try await session.changes(
                """
                DELETE FROM postcode_places WHERE (postcode, import) IN
                    (SELECT postcode, import FROM postcode_places WHERE import != \(number) LIMIT 20000)
                """)
        }) > 0 {}
        try await write { session in try await session.execute("DELETE FROM postcode_imports WHERE number != \(number)") }
    }

    public func localAuthorities(of postcode: String) async throws -> Set<String> {
        try await single { session in
            let codes = try await session.one(
                """
                SELECT authorities FROM postcode_places
                WHERE postcode = \(postcode) AND import = (SELECT number FROM postcode_imports WHERE current)
                """)?("authorities", as: String.self)
            return Set((codes ?? "").split(separator: " ").map(String.init))
        }
    }

    public func postcodeDirectory() async throws -> PostcodeDirectoryInfo? {
        try await single { session in
            try await session.one("SELECT * FROM postcode_imports WHERE current").map {
                PostcodeDirectoryInfo(
                    importedAt: try $0.date("imported_at") ?? .distantPast, importedBy: try $0("imported_by"), source: try $0("source"),
                    postcodes: try $0("postcodes"), localAuthorities: try $0("local_authorities"))
            }
        }
    }
}
