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
        try await sequenceAudit()
        return try await single { session in
            try await session.one("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1").map { (try $0("seq"), try $0("hash")) }
        }
    }

    /// Reads of the log first chain every event committed before them (`AuditSequencer`).
    public func auditEvents(afterSequence: Int64, limit: Int) async throws -> [AuditEvent] {
        try await sequenceAudit()
        return try await single { session in
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

    public func auditActivity(since: Date, kinds: Set<AuditKind>) async throws -> [AuditHourCount] {
        let since = String(Timestamp.string(since).prefix(13))
        let kinds = kinds.map(\.rawValue).sorted()
        guard !kinds.isEmpty else { return [] }
        try await sequenceAudit()
        return try await single { session in
            try await session.rows(
                "SELECT hour, kind, n FROM audit_hourly WHERE hour >= \(since) AND kind = ANY(\(kinds)) ORDER BY hour, kind"
            ).map { AuditHourCount(hour: try $0("hour"), kind: try $0("kind"), count: Int(try $0("n", as: Int64.self))) }
        }
    }
}
