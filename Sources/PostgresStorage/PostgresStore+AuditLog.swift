import Audit
import Foundation
import PostgresNIO
import ReferralModel
import Storage

extension PostgresStore {
    public func appendAudit(_ entries: [AuditEntry]) async throws {
        guard !entries.isEmpty else { return }
        try await write { session in session.append(entries) }
    }

    public func auditHead() async throws -> (sequence: Int64, hash: String)? {
        try await single { session in
            try await session.one("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1").map { (try $0("seq"), try $0("hash")) }
        }
    }

    public func auditEvents(afterSequence: Int64, limit: Int) async throws -> [AuditEvent] {
        try await single { session in
            try await session.rows(
                """
                SELECT seq, at, kind, actor, referral_id, delivery_id, agency, detail, prev_hash, hash
                FROM audit_events WHERE seq > \(afterSequence) ORDER BY seq LIMIT \(limit)
                """
            ).map {
                AuditEvent(
                    sequence: try $0("seq"), at: try $0("at"), kind: try $0("kind"), actor: try $0("actor"), referralId: try $0("referral_id"),
                    deliveryId: try $0("delivery_id"), agency: try $0("agency"), detail: try $0("detail"), previousHash: try $0("prev_hash"),
                    hash: try $0("hash"))
            }
        }
    }

    public func auditActivity(since: Date, kinds: Set<String>) async throws -> [AuditHourCount] {
        let since = Timestamp.string(since)
        let kinds = kinds.sorted()
        guard !kinds.isEmpty else { return [] }
        return try await single { session in
            // Sequences follow time (within a commit's moment across gateways), so the first event
            // since then is found by halving, with no index on `at`.
            let bounds = try await session.one("SELECT min(seq) AS low, max(seq) AS high FROM audit_events")
            var low: Int64 = try bounds?("low", as: Int64?.self) ?? 0
            var high: Int64 = (try bounds?("high", as: Int64?.self) ?? 0) + 1
            while low < high {
                let middle = low + (high - low) / 2
                let at = try await session.one("SELECT at FROM audit_events WHERE seq >= \(middle) ORDER BY seq LIMIT 1")?("at", as: String.self)
                if let at, at < since { low = middle + 1 } else { high = middle }
            }
            return try await session.rows(
                """
                SELECT substr(at, 1, 13) AS hour, kind, count(*)::BIGINT AS n FROM audit_events
                WHERE seq >= \(low) AND kind = ANY(\(kinds)) GROUP BY hour, kind ORDER BY hour
                """
            ).map { AuditHourCount(hour: try $0("hour"), kind: try $0("kind"), count: Int(try $0("n", as: Int64.self))) }
        }
    }
}
