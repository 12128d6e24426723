import Audit
import Foundation
import PostgresNIO
import ReferralModel
import Storage

extension PostgresStore {
    public func accept(_ record: IntakeRecord) async throws -> IntakeOutcome {
        try await ready()
        var record = record
        record.stored = try sealer().prepare(record)
        do {
            return try await writer.accept(record)
        } catch {
            throw PostgresFault.translate(error)
        }
    }

    static func receipt(_ record: IntakeRecord) -> SubmissionReceipt {
        SubmissionReceipt(
            id: record.referralId, status: record.routes.isEmpty ? record.held ?? .routed : .routed, routes: record.routes,
            rulesVersion: record.rulesVersion)
    }

    /// Stores referrals without idempotency claims together: one statement for the referrals, one
    /// for all their deliveries.
    static func write(_ records: [IntakeRecord], in session: PostgresSession) async throws {
        var values: [(any PostgresThrowingDynamicTypeEncodable)?] = []
        var tuples: [String] = []
        for record in records {
            let stored = record.stored ?? StoredIntake(plain: record)
            tuples.append(placeholders(13, after: values.count))
            values += [
                record.referralId, record.receivedAt.timeIntervalSince1970, record.actor, record.referral.urgency.rawValue,
                StoredText.jsonWords(record.referral.needs), record.rulesVersion, stored.body, record.held?.rawValue,
                record.requestId, stored.dataKey, stored.sealedKey, stored.nhsIndex, stored.personIndex,
            ]
        }
        try await session.execute(
            .bound(
                "INSERT INTO referrals (id, received_at, actor, urgency, needs, rules_version, body, held, request_id, data_key, sealed_key, "
                    + "nhs_index, person_index) VALUES " + tuples.joined(separator: ", "), values))
        try await insertDeliveries(records, in: session)
        for record in records {
            if let item = record.attention { try await insertAttention(item, referralId: record.referralId, in: session) }
            try await insertOriginal(record, in: session)
            session.append(record.audit)
        }
    }

    static func insertOriginal(_ record: IntakeRecord, in session: PostgresSession) async throws {
        guard let original = record.original else { return }
        let body = record.stored?.original ?? Data(original.body)
        try await session.execute(
            "INSERT INTO original_messages (referral_id, media_type, body) VALUES (\(record.referralId), \(original.mediaType), \(body))")
    }

    /// One tuple of numbered placeholders, `($n+1, …, $n+count)`, each with its type from `casts`
    /// when given (`$n+1::text`), as a VALUES list's first row names them for NULLs in the rest.
    static func placeholders(_ count: Int, after base: Int, then fixed: String = "", casts: [String]? = nil) -> String {
        // Written as bytes: built for every row of every batch, the mapped and joined strings were
        // a measurable share of the sequencer's time.
        var bytes: [UInt8] = [UInt8(ascii: "(")]
        bytes.reserveCapacity(count * 8 + fixed.utf8.count + 2)
        for index in 1...count {
            if index > 1 {
                bytes.append(UInt8(ascii: ","))
                bytes.append(UInt8(ascii: " "))
            }
            bytes.append(UInt8(ascii: "$"))
            bytes += String(base + index).utf8  // a small string: no allocation
            if let casts {
                bytes += "::".utf8
                bytes += casts[index - 1].utf8
            }
        }
        bytes += fixed.utf8
        bytes.append(UInt8(ascii: ")"))
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Inserts the delivery jobs of `records`, in one statement (in chunks, under the protocol's
    /// limit on values).
    static func insertDeliveries(_ records: [IntakeRecord], in session: PostgresSession) async throws {
        var values: [(any PostgresThrowingDynamicTypeEncodable)?] = []
        var tuples: [String] = []
        func flush() async throws {
            guard !tuples.isEmpty else { return }
            try await session.execute(
                .bound(
                    """
                    INSERT INTO deliveries (id, referral_id, position, agency, rule, next_attempt_at, alternatives, needs, deadline_at, urgency,
                                            head_start, parent_delivery, notice, state, attempts)
                    VALUES
                    """ + tuples.joined(separator: ", "), values))
            values.removeAll()
            tuples.removeAll()
            session.addsDueWork = true
        }
        for record in records {
            let received = record.receivedAt.timeIntervalSince1970
            for (position, delivery) in record.deliveries.enumerated() {
                let route = delivery.route
                tuples.append(placeholders(13, after: values.count, then: ", 'pending', 0"))
                values += [
                    route.deliveryId, record.referralId, position, route.agency, route.rule, received, StoredText.jsonWords(delivery.alternatives),
                    delivery.needs.map(StoredText.jsonWords), delivery.deadlineAt?.timeIntervalSince1970, record.referral.urgency.rawValue,
                    LeaseOrder.headStart(record.referral.urgency), delivery.parent, try StoredText.noticeJSON(delivery.notice),
                ]
            }
            if values.count > 60_000 { try await flush() }
        }
        try await flush()
    }

    /// Stores one accepted referral with its jobs, idempotency claim and audit events. The claim is
    /// made first, so of two gateways given the same key at once, one stores the referral and the
    /// other waits for it and replays its receipt.
    static func write(_ record: IntakeRecord, in session: PostgresSession) async throws -> IntakeOutcome {
        let receipt = receipt(record)
        if let claim = record.idempotency {
            let claimed = try await session.rows(
                """
                INSERT INTO idempotency_keys (actor, key, body_digest, referral_id, receipt)
                VALUES (\(record.actor), \(claim.key), \(claim.bodyDigest), \(record.referralId), \(receipt.canonicalJSON()))
                ON CONFLICT (actor, key) DO NOTHING RETURNING key
                """)
            if claimed.isEmpty {
                guard
                    let previous = try await session.one(
                        "SELECT body_digest, receipt FROM idempotency_keys WHERE actor = \(record.actor) AND key = \(claim.key)")
                else { throw StoreUnavailable("the database is busy with conflicting writes") }
                guard try previous("body_digest", as: String.self) == claim.bodyDigest else { return .idempotencyConflict }
                return .replayed(try JSONDecoder().decode(SubmissionReceipt.self, from: try previous("receipt", as: Data.self)))
            }
        }
        let received = record.receivedAt.timeIntervalSince1970
        let stored = record.stored ?? StoredIntake(plain: record)
        try await session.execute(
            """
            INSERT INTO referrals (id, received_at, actor, urgency, needs, rules_version, body, held, request_id, data_key, sealed_key,
                                   nhs_index, person_index)
            VALUES (\(record.referralId), \(received), \(record.actor), \(record.referral.urgency.rawValue),
                    \(StoredText.jsonWords(record.referral.needs)), \(record.rulesVersion), \(stored.body),
                    \(record.held?.rawValue), \(record.requestId), \(stored.dataKey), \(stored.sealedKey), \(stored.nhsIndex), \(stored.personIndex))
            """)
        try await insertDeliveries([record], in: session)
        if let item = record.attention { try await insertAttention(item, referralId: record.referralId, in: session) }
        try await insertOriginal(record, in: session)
        session.append(record.audit)
        return .accepted(receipt)
    }

    public func originalMessage(referralId: ReferralID) async throws -> OriginalMessage? {
        try await read { session in
            guard
                let row = try await session.one(
                    """
                    SELECT o.media_type, o.body, r.data_key, r.sealed_key FROM original_messages o JOIN referrals r ON r.id = o.referral_id
                    WHERE o.referral_id = \(referralId)
                    """)
            else { return nil }
            let key = try self.sealer().referralKey(referralId, dataKey: try row("data_key"), sealed: try row("sealed_key"))
            return OriginalMessage(
                mediaType: try row("media_type", as: String.self),
                body: Array(try key.open(try row("body", as: Data.self), column: "original_messages.body", row: referralId.rawValue)))
        }
    }

    public func referralId(actor: String, idempotencyKey: String) async throws -> ReferralID? {
        try await read { session in
            try await session.one("SELECT referral_id FROM idempotency_keys WHERE actor = \(actor) AND key = \(idempotencyKey)")?(
                "referral_id", as: ReferralID.self)
        }
    }

    public func report(referralId: ReferralID) async throws -> ReferralReport? {
        try await read { session in
            guard
                let row = try await session.one(
                    "SELECT received_at, actor, rules_version, urgency, needs, held FROM referrals WHERE id = \(referralId)")
            else { return nil }
            let deliveries = try await session.rows(
                """
                SELECT id, agency, rule, state, attempts, last_error, next_attempt_at, delivered_at, alternatives, answered_at,
                       decline_reason, deadline_at, notice, agency_reference
                FROM deliveries WHERE referral_id = \(referralId) ORDER BY position
                """
            ).map { row -> ReferralReport.Delivery in
                let state = try StoredValueUnreadable.read(
                    try row("state"), as: DeliveryState.self, table: "deliveries", row: try row("id"), column: "state")
                var delivery = ReferralReport.Delivery(
                    deliveryId: try row("id"), agency: try row("agency"), rule: try row("rule"), state: state, attempts: try row("attempts"),
                    lastError: try row("last_error"),
                    nextAttemptAt: state == .pending ? try row.date("next_attempt_at").map(Timestamp.string) : nil,
                    deliveredAt: try row.date("delivered_at").map(Timestamp.string),
                    alternatives: StoredText.agencies(try row("alternatives")) ?? [])
                delivery.answeredAt = try row.date("answered_at").map(Timestamp.string)
                delivery.deadlineAt = try row.date("deadline_at").map(Timestamp.string)
                delivery.declineReason = (try row("decline_reason", as: String?.self)).flatMap(DeclineReason.init(rawValue:))
                delivery.notice = StoredText.notice(try row("notice"))?.type
                delivery.agencyReference = try row("agency_reference")
                return delivery
            }
            let attention = try await session.one(
                "SELECT * FROM attention WHERE referral_id = \(referralId) AND resolved_at IS NULL ORDER BY since LIMIT 1"
            ).map(Self.attentionItem)
            let notes = try await Self.notes(referralId, sealer: try self.sealer(), in: session)
            let history = try await session.rows(
                // With the events written but not yet chained, after the chained ones, as written.
                """
                SELECT at, kind, agency, detail FROM (
                  SELECT 0 AS part, seq AS n, at, kind, agency, detail FROM audit_events WHERE referral_id = \(referralId)
                  UNION ALL
                  SELECT 1, id, at, kind, agency, detail FROM audit_pending WHERE referral_id = \(referralId)) history
                ORDER BY part, n
                """
            ).map { ReferralReport.HistoryEntry(at: try $0("at"), event: try $0("kind"), agency: try $0("agency"), detail: try $0("detail")) }
            var report = ReferralReport(
                id: referralId, status: StoredText.status(held: try row("held"), deliveries: deliveries, attention: attention != nil),
                receivedAt: Timestamp.string(try row.date("received_at") ?? .distantPast), submittedBy: try row("actor"),
                rulesVersion: try row("rules_version"),
                urgency: try StoredValueUnreadable.read(
                    try row("urgency"), as: Urgency.self, table: "referrals", row: referralId.rawValue, column: "urgency"),
                needs: StoredText.words(try row("needs")) ?? [], deliveries: deliveries, history: history)
            report.attention = attention
            report.notes = notes.isEmpty ? nil : notes
            return report
        }
    }
}
