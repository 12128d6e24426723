import Audit
import Foundation
import GRDB
import ReferralModel

extension SQLiteStore {
    public func accept(_ record: IntakeRecord) async throws -> IntakeOutcome {
        try space.requireReserve()
        var record = record
        record.stored = sealer.prepare(record)
        return try await writer.perform { [record] db, cursor in try Self.write(record, in: db, audit: &cursor) }
    }

    public func originalMessage(referralId: ReferralID) async throws -> OriginalMessage? {
        try await pool.read { db in
            try Row.fetchOne(
                db,
                sql: """
                    SELECT o.media_type, o.body, r.data_key, r.sealed_key FROM original_messages o JOIN referrals r ON r.id = o.referral_id
                    WHERE o.referral_id = ?
                    """, arguments: [referralId]
            ).map {
                let key = try sealer.referralKey(referralId, dataKey: $0["data_key"], sealed: $0["sealed_key"])
                return OriginalMessage(
                    mediaType: $0["media_type"], body: Array(try key.open($0["body"], column: "original_messages.body", row: referralId.rawValue)))
            }
        }
    }

    public func referralId(actor: String, idempotencyKey: String) async throws -> ReferralID? {
        try await pool.read { db in
            try ReferralID.fetchOne(
                db, sql: "SELECT referral_id FROM idempotency_keys WHERE actor = ? AND key = ?", arguments: [actor, idempotencyKey])
        }
    }

    public func report(referralId: ReferralID) async throws -> ReferralReport? {
        try await pool.read { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT received_at, actor, rules_version, urgency, needs, held FROM referrals WHERE id = ?", arguments: [referralId])
            else { return nil }
            let deliveries = try Row.fetchAll(
                db,
                sql: """
                    SELECT id, agency, rule, state, attempts, last_error, next_attempt_at, delivered_at, alternatives, answered_at,
                           decline_reason, deadline_at, notice, agency_reference
                    FROM deliveries WHERE referral_id = ? ORDER BY position
                    """, arguments: [referralId]
            ).map { row -> ReferralReport.Delivery in
                let state = try StoredValueUnreadable.read(row["state"], as: DeliveryState.self, table: "deliveries", row: row["id"], column: "state")
                let deliveredAt: Double? = row["delivered_at"]
                let alternatives: String = row["alternatives"]
                var delivery = ReferralReport.Delivery(
                    deliveryId: row["id"], agency: row["agency"], rule: row["rule"], state: state, attempts: row["attempts"],
                    lastError: row["last_error"],
                    nextAttemptAt: state == .pending ? Timestamp.string(Date(timeIntervalSince1970: row["next_attempt_at"])) : nil,
                    deliveredAt: deliveredAt.map { Timestamp.string(Date(timeIntervalSince1970: $0)) },
                    alternatives: StoredText.agencies(alternatives) ?? [])
                let answered: Double? = row["answered_at"]
                let deadline: Double? = row["deadline_at"]
                let reason: String? = row["decline_reason"]
                delivery.answeredAt = answered.map { Timestamp.string(Date(timeIntervalSince1970: $0)) }
                delivery.deadlineAt = deadline.map { Timestamp.string(Date(timeIntervalSince1970: $0)) }
                delivery.declineReason = reason.flatMap(DeclineReason.init(rawValue:))
                delivery.notice = StoredText.notice(row["notice"])?.type
                delivery.agencyReference = row["agency_reference"]
                return delivery
            }
            let attention = try Row.fetchOne(
                db, sql: "SELECT * FROM attention WHERE referral_id = ? AND resolved_at IS NULL ORDER BY since LIMIT 1", arguments: [referralId]
            ).map(Self.attentionItem)
            let notes = try Self.notes(referralId, sealer: sealer, in: db)
            let history = try Row.fetchAll(
                db, sql: "SELECT at, kind, agency, detail FROM audit_events WHERE referral_id = ? ORDER BY seq",
                arguments: [referralId]
            ).map { ReferralReport.HistoryEntry(at: $0["at"], event: $0["kind"], agency: $0["agency"], detail: $0["detail"]) }
            let needsJSON: String = row["needs"]
            let needs = (try? JSONDecoder().decode([String].self, from: Data(needsJSON.utf8))) ?? []
            let held: String? = row["held"]
            var report = ReferralReport(
                id: referralId,
                status: StoredText.status(held: held, deliveries: deliveries, attention: attention != nil),
                receivedAt: Timestamp.string(Date(timeIntervalSince1970: row["received_at"])), submittedBy: row["actor"],
                rulesVersion: row["rules_version"],
                urgency: try StoredValueUnreadable.read(
                    row["urgency"], as: Urgency.self, table: "referrals", row: referralId.rawValue, column: "urgency"),
                needs: needs,
                deliveries: deliveries, history: history)
            report.attention = attention
            report.notes = notes.isEmpty ? nil : notes
            return report
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
        let jsonList: ([String]) -> String = StoredText.jsonWords
        let needs = jsonList(record.referral.needs)
        let stored = record.stored ?? StoredIntake(plain: record)
        try db.cachedStatement(
            sql: """
                INSERT INTO referrals (id, received_at, actor, urgency, needs, rules_version, body, held, request_id, data_key, sealed_key,
                                       nhs_index, person_index)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [
            record.referralId, record.receivedAt.timeIntervalSince1970, record.actor, record.referral.urgency.rawValue, needs,
            record.rulesVersion, stored.body, record.held?.rawValue, record.requestId, stored.dataKey, stored.sealedKey, stored.nhsIndex,
            stored.personIndex,
        ])
        let insertDelivery = try db.cachedStatement(
            sql: """
                INSERT INTO deliveries (id, referral_id, position, agency, rule, state, attempts, next_attempt_at, alternatives, needs, deadline_at,
                                        urgency, head_start, parent_delivery, notice)
                VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
        let urgency = record.referral.urgency
        for (position, delivery) in record.deliveries.enumerated() {
            let route = delivery.route
            try insertDelivery.execute(arguments: [
                route.deliveryId, record.referralId, position, route.agency, route.rule, record.receivedAt.timeIntervalSince1970,
                StoredText.jsonWords(delivery.alternatives), delivery.needs.map(jsonList), delivery.deadlineAt?.timeIntervalSince1970,
                urgency.rawValue,
                LeaseOrder.headStart(urgency), delivery.parent, try StoredText.noticeJSON(delivery.notice),
            ])
        }
        if let item = record.attention { try insertAttention(item, referralId: record.referralId, in: db) }
        if let original = record.original {
            try db.execute(
                sql: "INSERT INTO original_messages (referral_id, media_type, body) VALUES (?, ?, ?)",
                arguments: [record.referralId, original.mediaType, stored.original ?? Data(original.body)])
        }
        let receipt = SubmissionReceipt(
            id: record.referralId, status: record.routes.isEmpty ? record.held ?? .routed : .routed, routes: record.routes,
            rulesVersion: record.rulesVersion)
        if let claim = record.idempotency {
            try db.cachedStatement(
                sql: "INSERT INTO idempotency_keys (actor, key, body_digest, referral_id, receipt) VALUES (?, ?, ?, ?, ?)"
            ).execute(arguments: [record.actor, claim.key, claim.bodyDigest, record.referralId, receipt.canonicalJSON()])
        }
        try append(record.audit, in: db, cursor: &cursor)
        return .accepted(receipt)
    }
}
