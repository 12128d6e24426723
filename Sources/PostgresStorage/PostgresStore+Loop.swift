import Audit
import Foundation
import PostgresNIO
import ReferralModel
import Storage

extension PostgresStore {
    public func loopReferral(_ id: ReferralID) async throws -> LoopReferral? {
        try await read { session in
            // None, or its personal data was removed under the retention policy.
            guard
                let row = try await session.one(
                    "SELECT received_at, actor, body, data_key, sealed_key FROM referrals WHERE id = \(id) AND pruned_at IS NULL")
            else { return nil }
            let key = try self.sealer().referralKey(id, dataKey: try row("data_key"), sealed: try row("sealed_key"))
            let referral = try ReferralDecoder.decodeStored(try key.open(try row("body", as: Data.self), column: "referrals.body", row: id.rawValue))
            let deliveries = try await session.rows(
                """
                SELECT id, agency, rule, state, alternatives, needs, deadline_at, escalated_at, notice
                FROM deliveries WHERE referral_id = \(id) ORDER BY position
                """
            ).map { row in
                LoopDelivery(
                    deliveryId: try row("id"), agency: try row("agency"), rule: try row("rule"),
                    state: try StoredValueUnreadable.read(
                        try row("state"), as: DeliveryState.self, table: "deliveries", row: try row("id"), column: "state"),
                    alternatives: StoredText.agencies(try row("alternatives")) ?? [],
                    needs: StoredText.words(try row("needs")), deadlineAt: try row.date("deadline_at"), escalatedAt: try row.date("escalated_at"),
                    notice: StoredText.notice(try row("notice")))
            }
            let attention = try await session.one(
                "SELECT * FROM attention WHERE referral_id = \(id) AND resolved_at IS NULL ORDER BY since LIMIT 1"
            ).map(Self.attentionItem)
            return LoopReferral(
                referralId: id, referral: referral, receivedAt: try row.date("received_at") ?? .distantPast, submittedBy: try row("actor"),
                deliveries: deliveries, attention: attention)
        }
    }

    public func applyLoopChange(_ change: LoopChange) async throws -> Bool {
        try await ready()
        let sealer = try sealer()
        return try await write { session in
            let at = change.at.timeIntervalSince1970
            if let transition = change.transition {
                let changed = try await session.changes(
                    """
                    UPDATE deliveries SET state = \(transition.to.rawValue), answered_at = \(at),
                      decline_reason = COALESCE(\(transition.declineReason?.rawValue)::text, decline_reason),
                      agency_reference = COALESCE(\(transition.agencyReference)::text, agency_reference)
                    WHERE id = \(transition.deliveryId) AND referral_id = \(change.referralId) AND state = ANY(\(transition.from.map(\.rawValue)))
                    """)
                guard changed == 1 else { return false }
            }
            let key =
                change.amendedReferral == nil && change.notes.isEmpty
                ? nil : try await Self.referralKey(change.referralId, sealer: sealer, in: session)
            if let amended = change.amendedReferral {
                let indexes = sealer.blindIndexes(amended)
                let body = key.seal(amended.canonicalJSON(), column: "referrals.body", row: change.referralId.rawValue)
                let changed = try await session.changes(
                    """
                    UPDATE referrals SET body = \(body), nhs_index = \(indexes.nhsNumber), person_index = \(indexes.person)
                    WHERE id = \(change.referralId) AND pruned_at IS NULL
                    """)
                guard changed == 1 else { return false }
            }
            for (id, deadline) in change.redelivered {
                try await session.execute(
                    """
                    UPDATE deliveries SET state = 'delivered', deadline_at = \(deadline.timeIntervalSince1970), escalated_at = NULL, answered_at = NULL
                    WHERE id = \(id) AND referral_id = \(change.referralId) AND state = 'returned'
                    """)
            }
            for id in change.escalated {
                try await session.execute("UPDATE deliveries SET escalated_at = \(at) WHERE id = \(id) AND escalated_at IS NULL")
            }
            for id in change.withdrawn {
                try await session.execute(
                    """
                    UPDATE deliveries SET state = 'withdrawn', answered_at = \(at), lease_token = NULL, lease_expires_at = NULL
                    WHERE id = \(id) AND state IN ('pending', 'delivered', 'accepted', 'dead-lettered', 'returned')
                    """)
            }
            if !change.added.isEmpty {
                let position =
                    try await session.one("SELECT MAX(position) AS last FROM deliveries WHERE referral_id = \(change.referralId)")
                    .map { try $0("last", as: Int?.self) } ?? nil
                let urgency = try await session.one("SELECT urgency FROM referrals WHERE id = \(change.referralId)")
                    .flatMap { Urgency(rawValue: try $0("urgency")) }
                for (offset, added) in change.added.enumerated() {
                    try await session.execute(
                        """
                        INSERT INTO deliveries (id, referral_id, position, agency, rule, state, attempts, next_attempt_at, alternatives, needs,
                                                deadline_at, parent_delivery, notice, urgency, head_start)
                        VALUES (\(added.route.deliveryId), \(change.referralId), \((position ?? -1) + 1 + offset), \(added.route.agency),
                                \(added.route.rule), 'pending', 0, \(at), \(StoredText.jsonWords(added.alternatives)),
                                \(added.needs.map(StoredText.jsonWords)), \(added.deadlineAt?.timeIntervalSince1970), \(added.parent),
                                \(try StoredText.noticeJSON(added.notice)), \(urgency?.rawValue), \(LeaseOrder.headStart(urgency)))
                        """)
                }
                session.addsDueWork = true
            }
            for note in change.notes {
                let text = key.sealText(note.text, column: "referral_notes.text", row: note.id)
                try await session.execute(
                    """
                    INSERT INTO referral_notes (id, referral_id, delivery_id, at, author, kind, text)
                    VALUES (\(note.id), \(change.referralId), \(note.deliveryId), \(note.at), \(note.author), \(note.kind), \(text))
                    """)
            }
            if let item = change.openAttention { try await Self.insertAttention(item, referralId: change.referralId, in: session) }
            if let resolve = change.resolveAttention {
                try await session.execute(
                    """
                    UPDATE attention SET resolved_at = \(Timestamp.string(change.at)), resolved_by = \(resolve.by), resolution = \(resolve.resolution)
                    WHERE id = \(resolve.id) AND resolved_at IS NULL
                    """)
            }
            session.append(change.audit)
            return true
        }
    }

    public func worklist(agency: AgencyID, states: Set<DeliveryState>?, limit: Int, before: DeliveryID?) async throws -> [WorkItem] {
        try await ready()
        let sealer = try sealer()
        return try await read { session in
            try await session.rows(
                """
                SELECT d.id, d.referral_id, d.state, d.delivered_at, d.deadline_at, r.urgency, r.received_at, r.body, r.data_key, r.sealed_key
                FROM deliveries d JOIN referrals r ON r.id = d.referral_id
                WHERE d.agency = \(agency) AND d.notice IS NULL
                  AND (\(states == nil) OR d.state = ANY(\((states ?? []).map(\.rawValue))))
                  AND (\(before)::text IS NULL OR d.id < \(before))
                ORDER BY d.id DESC LIMIT \(limit)
                """
            ).map { row in
                let referralId = try row("referral_id", as: ReferralID.self)
                let key = try? sealer.referralKey(referralId, dataKey: try row("data_key"), sealed: try row("sealed_key"))
                let body = try? key.open(try row("body", as: Data.self), column: "referrals.body", row: referralId.rawValue)
                var item = WorkItem(
                    referralId: referralId, deliveryId: try row("id"),
                    state: try StoredValueUnreadable.read(
                        try row("state"), as: DeliveryState.self, table: "deliveries", row: try row("id"), column: "state"),
                    urgency: try StoredValueUnreadable.read(
                        try row("urgency"), as: Urgency.self, table: "referrals", row: try row("referral_id"), column: "urgency"),
                    receivedAt: Timestamp.string(try row.date("received_at") ?? .distantPast),
                    deliveredAt: try row.date("delivered_at").map(Timestamp.string),
                    respondBy: body.flatMap { try? ReferralDecoder.decodeStored($0) }?.respondBy)
                item.deadlineAt = try row.date("deadline_at").map(Timestamp.string)
                return item
            }
        }
    }

    public func attention(limit: Int) async throws -> [AttentionItem] {
        try await single { session in
            try await session.rows(
                """
                SELECT * FROM attention WHERE resolved_at IS NULL
                ORDER BY CASE urgency WHEN 'emergency' THEN 0 WHEN 'urgent' THEN 1 ELSE 2 END, due_at IS NULL, due_at COLLATE "C", since, id
                LIMIT \(limit)
                """
            ).map(Self.attentionItem)
        }
    }

    public func attentionSummary(now: Date) async throws -> [AttentionSummary] {
        try await single { session in
            try await session.rows(
                """
                SELECT COALESCE(urgency, 'routine') AS urgency, COUNT(*) AS open,
                       COUNT(*) FILTER (WHERE due_at IS NOT NULL AND due_at COLLATE "C" < \(Timestamp.string(now))) AS overdue
                FROM attention WHERE resolved_at IS NULL GROUP BY 1
                """
            ).compactMap { row -> AttentionSummary? in
                guard let urgency = Urgency(rawValue: try row("urgency")) else { return nil }
                return AttentionSummary(
                    urgency: urgency, open: Int(try row("open", as: Int64.self)), overdue: Int(try row("overdue", as: Int64.self)))
            }
        }
    }

    public func waitingUrgentDeliveries(agencies: [AgencyID], limit: Int) async throws -> [DueEscalation] {
        guard !agencies.isEmpty else { return [] }
        return try await read { session in
            try await session.rows(
                """
                SELECT referral_id, id, agency, deadline_at FROM deliveries
                WHERE state = 'pending' AND agency = ANY(\(agencies)) AND notice IS NULL AND escalated_at IS NULL
                  AND urgency IN ('emergency', 'urgent')
                ORDER BY head_start DESC, id LIMIT \(limit)
                """
            ).map { row in
                DueEscalation(
                    referralId: try row("referral_id"), deliveryId: try row("id"), agency: try row("agency"), state: .pending,
                    deadlineAt: try row.date("deadline_at"))
            }
        }
    }

    static func insertAttention(_ item: AttentionItem, referralId: ReferralID, in session: PostgresSession) async throws {
        try await session.execute(
            """
            INSERT INTO attention (id, referral_id, delivery_id, agency, reason, since, urgency, due_at)
            VALUES (\(item.id), \(referralId), \(item.deliveryId), \(item.agency), \(item.reason), \(item.since), \(item.urgency?.rawValue),
                    \(item.dueAt))
            """)
    }

    public func dueEscalations(now: Date, limit: Int) async throws -> [DueEscalation] {
        try await read { session in
            let rows =
                try await session.rows(
                    """
                    SELECT referral_id, id, agency, state, deadline_at FROM deliveries
                    WHERE state = 'dead-lettered' AND escalated_at IS NULL LIMIT \(limit)
                    """)
                + session.rows(
                    """
                    SELECT referral_id, id, agency, state, deadline_at FROM deliveries
                    WHERE escalated_at IS NULL AND deadline_at <= \(now.timeIntervalSince1970) AND state IN ('pending', 'delivered', 'returned')
                    ORDER BY deadline_at LIMIT \(limit)
                    """)
            return try rows.prefix(limit).map { row in
                DueEscalation(
                    referralId: try row("referral_id"), deliveryId: try row("id"), agency: try row("agency"),
                    state: try StoredValueUnreadable.read(
                        try row("state"), as: DeliveryState.self, table: "deliveries", row: try row("id"), column: "state"),
                    deadlineAt: try row.date("deadline_at"))
            }
        }
    }

    public func notes(referralId: ReferralID) async throws -> [ReferralNote] {
        try await ready()
        let sealer = try sealer()
        return try await single { session in try await Self.notes(referralId, sealer: sealer, in: session) }
    }

    static func notes(_ referralId: ReferralID, sealer: RecordSealer, in session: PostgresSession) async throws -> [ReferralNote] {
        let rows = try await session.rows("SELECT * FROM referral_notes WHERE referral_id = \(referralId) ORDER BY at, id")
        guard !rows.isEmpty else { return [] }
        let key = try await referralKey(referralId, sealer: sealer, in: session)
        return try rows.map { row in
            let id = try row("id", as: String.self)
            return ReferralNote(
                id: id, deliveryId: try row("delivery_id"), at: try row("at"), author: try row("author"), kind: try row("kind"),
                text: try key.openText(try row("text", as: String.self), column: "referral_notes.text", row: id))
        }
    }

    /// A referral's key, read in the transaction that needs it.
    static func referralKey(_ id: ReferralID, sealer: RecordSealer, in session: PostgresSession) async throws -> ReferralKey? {
        guard let row = try await session.one("SELECT data_key, sealed_key FROM referrals WHERE id = \(id)") else { return nil }
        return try sealer.referralKey(id, dataKey: try row("data_key"), sealed: try row("sealed_key"))
    }

    static func attentionItem(_ row: PGRow) throws -> AttentionItem {
        AttentionItem(
            id: try row("id"), referralId: try row("referral_id"), deliveryId: try row("delivery_id"), agency: try row("agency"),
            reason: try row("reason"), since: try row("since"), resolvedAt: try row("resolved_at"), resolvedBy: try row("resolved_by"),
            resolution: try row("resolution"), urgency: (try row("urgency", as: String?.self)).flatMap(Urgency.init(rawValue:)),
            dueAt: try row("due_at"))
    }
}
