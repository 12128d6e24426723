import Audit
import Foundation
import GRDB
import ReferralModel

extension SQLiteStore {
    public func loopReferral(_ id: ReferralID) async throws -> LoopReferral? {
        try await pool.read { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT received_at, actor, body, data_key, sealed_key FROM referrals WHERE id = ? AND pruned_at IS NULL",
                    arguments: [id])
            else {
                // None, or its personal data was removed under the retention policy.
                return nil
            }
            let key = try sealer.referralKey(id, dataKey: row["data_key"], sealed: row["sealed_key"])
            let referral = try ReferralDecoder.decodeStored(Array(try key.open(row["body"], column: "referrals.body", row: id.rawValue)))
            let deliveries = try Row.fetchAll(
                db,
                sql: """
                    SELECT id, agency, rule, state, alternatives, needs, deadline_at, escalated_at, notice
                    FROM deliveries WHERE referral_id = ? ORDER BY position
                    """, arguments: [id]
            ).map { row in
                let deadline: Double? = row["deadline_at"]
                let escalated: Double? = row["escalated_at"]
                return LoopDelivery(
                    deliveryId: row["id"], agency: row["agency"], rule: row["rule"],
                    state: try StoredValueUnreadable.read(row["state"], as: DeliveryState.self, table: "deliveries", row: row["id"], column: "state"),
                    alternatives: StoredText.agencies(row["alternatives"]) ?? [], needs: StoredText.words(row["needs"]),
                    deadlineAt: deadline.map(Date.init(timeIntervalSince1970:)), escalatedAt: escalated.map(Date.init(timeIntervalSince1970:)),
                    notice: StoredText.notice(row["notice"]))
            }
            let attention = try Row.fetchOne(
                db, sql: "SELECT * FROM attention WHERE referral_id = ? AND resolved_at IS NULL ORDER BY since LIMIT 1", arguments: [id]
            ).map(Self.attentionItem)
            return LoopReferral(
                referralId: id, referral: referral, receivedAt: Date(timeIntervalSince1970: row["received_at"]), submittedBy: row["actor"],
                deliveries: deliveries, attention: attention)
        }
    }

    public func applyLoopChange(_ change: LoopChange) async throws -> Bool {
        let sealer = sealer
        return try await writer.perform { db, cursor in
            let at = change.at.timeIntervalSince1970
            if let transition = change.transition {
                let from = transition.from.map { "'\($0.rawValue)'" }.joined(separator: ", ")
                try db.execute(
                    sql: """
                        UPDATE deliveries SET state = ?, answered_at = ?, decline_reason = COALESCE(?, decline_reason),
                          agency_reference = COALESCE(?, agency_reference)
                        WHERE id = ? AND referral_id = ? AND state IN (\(from))
                        """,
                    arguments: [
                        transition.to.rawValue, at, transition.declineReason?.rawValue, transition.agencyReference, transition.deliveryId,
                        change.referralId,
                    ])
                guard db.changesCount == 1 else { return false }
            }
            let key = change.amendedReferral == nil && change.notes.isEmpty ? nil : try Self.referralKey(change.referralId, sealer: sealer, in: db)
            if let amended = change.amendedReferral {
                let indexes = sealer.blindIndexes(amended)
                try db.execute(
                    sql: "UPDATE referrals SET body = ?, nhs_index = ?, person_index = ? WHERE id = ? AND pruned_at IS NULL",
                    arguments: [
                        key.seal(amended.canonicalJSON(), column: "referrals.body", row: change.referralId.rawValue), indexes.nhsNumber,
                        indexes.person, change.referralId,
                    ])
                guard db.changesCount == 1 else { return false }
            }
            for (id, deadline) in change.redelivered {
                try db.execute(
                    sql: """
                        UPDATE deliveries SET state = 'delivered', deadline_at = ?, escalated_at = NULL, answered_at = NULL
                        WHERE id = ? AND referral_id = ? AND state = 'returned'
                        """, arguments: [deadline.timeIntervalSince1970, id, change.referralId])
            }
            for id in change.escalated {
                try db.execute(sql: "UPDATE deliveries SET escalated_at = ? WHERE id = ? AND escalated_at IS NULL", arguments: [at, id])
            }
            for id in change.withdrawn {
                try db.execute(
                    sql:
                        "UPDATE deliveries SET state = 'withdrawn', answered_at = ? WHERE id = ? AND state IN ('pending', 'delivered', 'accepted', 'dead-lettered', 'returned')",
                    arguments: [at, id])
            }
            if !change.added.isEmpty {
                let position =
                    try Int.fetchOne(db, sql: "SELECT MAX(position) FROM deliveries WHERE referral_id = ?", arguments: [change.referralId]) ?? -1
                let urgency = try String.fetchOne(db, sql: "SELECT urgency FROM referrals WHERE id = ?", arguments: [change.referralId])
                    .flatMap(Urgency.init(rawValue:))
                for (offset, added) in change.added.enumerated() {
                    try db.execute(
                        sql: """
                            INSERT INTO deliveries (id, referral_id, position, agency, rule, state, attempts, next_attempt_at, alternatives, needs,
                                                    deadline_at, parent_delivery, notice, urgency, head_start)
                            VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?, ?, ?, ?, ?)
                            """,
                        arguments: [
                            added.route.deliveryId, change.referralId, position + 1 + offset, added.route.agency, added.route.rule, at,
                            StoredText.jsonWords(added.alternatives), added.needs.map(StoredText.jsonWords), added.deadlineAt?.timeIntervalSince1970,
                            added.parent, try StoredText.noticeJSON(added.notice), urgency?.rawValue, LeaseOrder.headStart(urgency),
                        ])
                }
            }
            for note in change.notes {
                try db.execute(
                    sql: "INSERT INTO referral_notes (id, referral_id, delivery_id, at, author, kind, text) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    arguments: [
                        note.id, change.referralId, note.deliveryId, note.at, note.author, note.kind,
                        key.sealText(note.text, column: "referral_notes.text", row: note.id),
                    ])
            }
            if let item = change.openAttention { try Self.insertAttention(item, referralId: change.referralId, in: db) }
            if let resolve = change.resolveAttention {
                try db.execute(
                    sql: "UPDATE attention SET resolved_at = ?, resolved_by = ?, resolution = ? WHERE id = ? AND resolved_at IS NULL",
                    arguments: [Timestamp.string(change.at), resolve.by, resolve.resolution, resolve.id])
            }
            try Self.append(change.audit, in: db, cursor: &cursor)
            return true
        }
    }

    public func worklist(agency: AgencyID, states: Set<DeliveryState>?, limit: Int, before: DeliveryID?) async throws -> [WorkItem] {
        try await pool.read { db in
            var sql = """
                SELECT d.id, d.referral_id, d.state, d.delivered_at, d.deadline_at, r.urgency, r.received_at, r.body, r.data_key, r.sealed_key
                FROM deliveries d JOIN referrals r ON r.id = d.referral_id WHERE d.agency = ? AND d.notice IS NULL
                """
            var arguments: [(any DatabaseValueConvertible)?] = [agency]
            if let states {
                sql += " AND d.state IN (\(states.map { "'\($0.rawValue)'" }.sorted().joined(separator: ", ")))"
            }
            if let before {
                sql += " AND d.id < ?"
                arguments.append(before)
            }
            sql += " ORDER BY d.id DESC LIMIT ?"
            arguments.append(limit)
            return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map { row in
                let delivered: Double? = row["delivered_at"]
                let deadline: Double? = row["deadline_at"]
                let referralId: ReferralID = row["referral_id"]
                let key = try? sealer.referralKey(referralId, dataKey: row["data_key"], sealed: row["sealed_key"])
                let body = try? key.open(row["body"], column: "referrals.body", row: referralId.rawValue)
                var item = WorkItem(
                    referralId: row["referral_id"], deliveryId: row["id"],
                    state: try StoredValueUnreadable.read(row["state"], as: DeliveryState.self, table: "deliveries", row: row["id"], column: "state"),
                    urgency: try StoredValueUnreadable.read(
                        row["urgency"], as: Urgency.self, table: "referrals", row: row["referral_id"], column: "urgency"),
                    receivedAt: Timestamp.string(Date(timeIntervalSince1970: row["received_at"])),
                    deliveredAt: delivered.map { Timestamp.string(Date(timeIntervalSince1970: $0)) },
                    respondBy: body.flatMap { try? ReferralDecoder.decodeStored(Array($0)) }?.respondBy)
                item.deadlineAt = deadline.map { Timestamp.string(Date(timeIntervalSince1970: $0)) }
                return item
            }
        }
    }

    public func attention(limit: Int) async throws -> [AttentionItem] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM attention WHERE resolved_at IS NULL
                    ORDER BY CASE urgency WHEN 'emergency' THEN 0 WHEN 'urgent' THEN 1 ELSE 2 END, due_at IS NULL, due_at, since, id LIMIT ?
                    """, arguments: [limit]
            ).map(Self.attentionItem)
        }
    }

    public func attentionSummary(now: Date) async throws -> [AttentionSummary] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT COALESCE(urgency, 'routine') AS urgency, COUNT(*) AS open, SUM(due_at IS NOT NULL AND due_at < ?) AS overdue
                    FROM attention WHERE resolved_at IS NULL GROUP BY 1
                    """, arguments: [Timestamp.string(now)]
            ).compactMap { row in
                Urgency(rawValue: row["urgency"]).map { AttentionSummary(urgency: $0, open: row["open"], overdue: row["overdue"] ?? 0) }
            }
        }
    }

    public func waitingUrgentDeliveries(agencies: [AgencyID], limit: Int) async throws -> [DueEscalation] {
        guard !agencies.isEmpty else { return [] }
        return try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT referral_id, id, agency, state, deadline_at FROM deliveries
                    WHERE state = 'pending' AND agency IN (\(agencies.map { _ in "?" }.joined(separator: ", ")))
                      AND notice IS NULL AND escalated_at IS NULL AND urgency IN ('emergency', 'urgent')
                    ORDER BY head_start DESC, id LIMIT ?
                    """, arguments: StatementArguments(agencies + [String(limit)])
            ).map { row in
                let deadline: Double? = row["deadline_at"]
                return DueEscalation(
                    referralId: row["referral_id"], deliveryId: row["id"], agency: row["agency"], state: .pending,
                    deadlineAt: deadline.map(Date.init(timeIntervalSince1970:)))
            }
        }
    }

    static func insertAttention(_ item: AttentionItem, referralId: ReferralID, in db: Database) throws {
        try db.execute(
            sql: "INSERT INTO attention (id, referral_id, delivery_id, agency, reason, since, urgency, due_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            arguments: [item.id, referralId, item.deliveryId, item.agency, item.reason, item.since, item.urgency?.rawValue, item.dueAt])
    }

    public func dueEscalations(now: Date, limit: Int) async throws -> [DueEscalation] {
        try await pool.read { db in
            // Two seeks rather than one scan: dead letters through the lane index (state first),
            // overdue deliveries through the escalation index (escalated_at, deadline_at).
            let rows =
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT referral_id, id, agency, state, deadline_at FROM deliveries
                        WHERE state = 'dead-lettered' AND escalated_at IS NULL LIMIT ?
                        """, arguments: [limit])
                + Row.fetchAll(
                    db,
                    sql: """
                        SELECT referral_id, id, agency, state, deadline_at FROM deliveries
                        WHERE escalated_at IS NULL AND deadline_at <= ? AND state IN ('pending', 'delivered', 'returned')
                        ORDER BY deadline_at LIMIT ?
                        """, arguments: [now.timeIntervalSince1970, limit])
            return try rows.prefix(limit).map { row in
                let deadline: Double? = row["deadline_at"]
                return DueEscalation(
                    referralId: row["referral_id"], deliveryId: row["id"], agency: row["agency"],
                    state: try StoredValueUnreadable.read(row["state"], as: DeliveryState.self, table: "deliveries", row: row["id"], column: "state"),
                    deadlineAt: deadline.map(Date.init(timeIntervalSince1970:)))
            }
        }
    }

    public func notes(referralId: ReferralID) async throws -> [ReferralNote] {
        try await pool.read { db in
            try Self.notes(referralId, sealer: sealer, in: db)
        }
    }

    static func notes(_ referralId: ReferralID, sealer: RecordSealer, in db: Database) throws -> [ReferralNote] {
        let rows = try Row.fetchAll(db, sql: "SELECT * FROM referral_notes WHERE referral_id = ? ORDER BY at, id", arguments: [referralId])
        guard !rows.isEmpty else { return [] }
        let key = try referralKey(referralId, sealer: sealer, in: db)
        return try rows.map { row in
            let id: String = row["id"]
            return ReferralNote(
                id: id, deliveryId: row["delivery_id"], at: row["at"], author: row["author"], kind: row["kind"],
                text: try key.openText(row["text"], column: "referral_notes.text", row: id))
        }
    }

    static func attentionItem(_ row: Row) -> AttentionItem {
        AttentionItem(
            id: row["id"], referralId: row["referral_id"], deliveryId: row["delivery_id"], agency: row["agency"], reason: row["reason"],
            since: row["since"], resolvedAt: row["resolved_at"], resolvedBy: row["resolved_by"], resolution: row["resolution"],
            urgency: (row["urgency"] as String?).flatMap(Urgency.init(rawValue:)), dueAt: row["due_at"])
    }
}
