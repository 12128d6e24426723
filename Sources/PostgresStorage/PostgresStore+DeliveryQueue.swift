import Audit
import Foundation
import PostgresNIO
import ReferralModel
import Storage

extension PostgresStore {
    /// Claims every lane's due jobs in one statement: for each lane, its oldest due jobs that no
    /// live lease holds, locked with `SKIP LOCKED` so gateways claiming at once take different
    /// jobs, each given this claim's token and its lane's expiry as it is taken. An expired lease
    /// is claimed like a job never leased: its worker died or hung.
    public func leaseDueDeliveries(now: Date, lanes: [LaneDemand]) async throws -> [LeasedDelivery] {
        let lanes = lanes.filter { $0.limit > 0 }
        guard !lanes.isEmpty else { return [] }
        let token = Identifier.make(now: now)
        do {
            return try await claim(lanes, token: token, now: now)
        } catch {
            // The claim may have committed with its reply lost (the connection dropped as the
            // database went away or came back): its jobs would wait out their whole lease. They
            // are released as soon as the database takes the release.
            releaseClaim(token)
            throw error
        }
    }

    /// Frees the jobs a claim that failed may have leased, retrying every quarter of a second
    /// until the database takes it, for at most the longest lease (after which it expired anyway),
    /// and no longer once the store is closed (the lease then expires, and another gateway, or
    /// this one started again, takes the jobs).
    func releaseClaim(_ token: String, for longest: Duration = .seconds(600)) {
        claimsReleasing.wrappingAdd(1, ordering: .relaxed)
        Task {
            defer { self.claimsReleasing.wrappingSubtract(1, ordering: .relaxed) }
            let until = ContinuousClock.now + longest
            while ContinuousClock.now < until && !self.isClosed {
                do {
                    try await self.single { session in
                        try await session.execute(
                            "UPDATE deliveries SET lease_token = NULL, lease_expires_at = NULL WHERE lease_token = \(token) AND state = 'pending'")
                    }
                    return
                } catch {
                    try? await Task.sleep(for: .milliseconds(250))
                }
            }
        }
    }

    private func claim(_ lanes: [LaneDemand], token: String, now: Date) async throws -> [LeasedDelivery] {
        let at = now.timeIntervalSince1970
        // Each lane's jobs are read in lease order straight from its index (`deliveries_lease_order`),
        // stopping at the lane's limit, never every due job of the agency sorted (`inIndexOrder`).
        let rows = try await inIndexOrder { session in try await session.rows(Self.claimQuery(lanes, token: token, at: at)) }
        let sealer = try sealer()
        return try rows.map { (try $0("lease_order", as: Double.self), try $0("id", as: String.self), $0) }
            .sorted { ($0.0, $0.1) < ($1.0, $1.1) }
            .map { _, _, row in
                let referralId = try row("referral_id", as: ReferralID.self)
                let key = try sealer.referralKey(referralId, dataKey: try row("data_key"), sealed: try row("sealed_key"))
                let body = try key.open(try row("body", as: Data.self), column: "referrals.body", row: referralId.rawValue)
                var lease = LeasedDelivery(
                    deliveryId: try row("id"), referralId: referralId, agency: try row("agency"), rule: try row("rule"),
                    attempt: try row("attempts", as: Int.self) + 1, leaseToken: token,
                    referral: try ReferralDecoder.decodeStored(body), receivedAt: try row.date("received_at") ?? now,
                    needs: StoredText.words(try row("needs")), notice: StoredText.notice(try row("notice")))
                lease.requestId = try row("request_id")
                return lease
            }
    }

    /// The claim's statement: each lane's due jobs in lease order, locked (skipping any another
    /// gateway holds), leased to `token`, and returned with their referrals.
    static func claimQuery(_ lanes: [LaneDemand], token: String, at: Double) -> PostgresQuery {
        """
        WITH lane AS (
            SELECT * FROM unnest(\(lanes.map(\.agency))::text[], \(lanes.map(\.limit))::bigint[], \(lanes.map(\.leaseDuration))::float8[])
                AS l(agency, lim, duration)
        ), claim AS (
            SELECT c.id FROM lane CROSS JOIN LATERAL (
                SELECT id FROM deliveries
                WHERE state = 'pending' AND agency = lane.agency AND next_attempt_at - head_start <= \(at) AND next_attempt_at <= \(at)
                  AND (lease_token IS NULL OR lease_expires_at <= \(at))
                ORDER BY next_attempt_at - head_start LIMIT lane.lim FOR UPDATE SKIP LOCKED
            ) c
        )
        UPDATE deliveries d SET lease_token = \(token), lease_expires_at = \(at) + (SELECT duration FROM lane WHERE lane.agency = d.agency)
        FROM referrals r
        WHERE d.id = ANY(ARRAY(SELECT id FROM claim)) AND r.id = d.referral_id
        RETURNING d.id, d.referral_id, d.agency, d.rule, d.attempts, d.needs, d.notice, d.next_attempt_at - d.head_start AS lease_order,
                  r.body, r.received_at, r.request_id, r.data_key, r.sealed_key
        """
    }

    /// Records a batch of attempts in one statement: each row is written only if the delivery is
    /// still pending under the lease that made the attempt.
    public func finish(_ completions: [DeliveryCompletion]) async throws -> [Bool] {
        guard !completions.isEmpty else { return [] }
        try await ready()
        let sealer = try sealer()
        return try await write { session in
            var written: Set<DeliveryID> = []
            // An agency's reply may repeat what it was sent: sealed with its referral's key.
            var keys: [ReferralID: ReferralKey] = [:]
            for referralId in Set(completions.filter { $0.agencyReply != nil }.map(\.lease.referralId)) {
                keys[referralId] = try await Self.referralKey(referralId, sealer: sealer, in: session)
            }
            for chunk in stride(from: 0, to: completions.count, by: 1000) {
                written.formUnion(try await Self.record(completions[chunk..<min(chunk + 1000, completions.count)], keys: keys, in: session))
            }
            var recorded: [Bool] = []
            for completion in completions {
                // A lost lease means another worker owns the job now: nothing was written for it.
                let held = written.remove(completion.lease.deliveryId) != nil
                if held { session.append(completion.audit) }
                if held, case .retry = completion.result { session.addsDueWork = true }
                recorded.append(held)
            }
            return recorded
        }
    }

    /// The types of a completion's values, named on the first row of the VALUES list.
    private static let completionCasts = ["text", "text", "text", "int", "float8", "float8", "float8", "float8", "text", "text", "text"]

    /// Writes the completions whose leases still hold; the delivery ids written.
    private static func record(_ completions: ArraySlice<DeliveryCompletion>, keys: [ReferralID: ReferralKey], in session: PostgresSession)
        async throws -> Set<DeliveryID>
    {
        var values: [(any PostgresThrowingDynamicTypeEncodable)?] = []
        var tuples: [String] = []
        for completion in completions {
            let lease = completion.lease
            let at = completion.at.timeIntervalSince1970
            var state = "pending"
            var nextAttempt: Double?
            var deliveredAt: Double?
            var answeredAt: Double?
            var deadAt: Double?
            var reference: String?
            var error: String?
            var reply = completion.agencyReply.map {
                keys[lease.referralId].sealText($0, column: "deliveries.agency_reply", row: lease.deliveryId.rawValue)
            }
            switch completion.result {
            case .delivered(let agencyReference), .accepted(let agencyReference):
                let accepted = if case .accepted = completion.result { true } else { false }
                state = accepted ? "accepted" : "delivered"
                deliveredAt = at
                answeredAt = accepted ? at : nil
                reference = agencyReference
                reply = nil
            case .retry(let next, let reason):
                nextAttempt = next.timeIntervalSince1970
                error = reason
            case .deadLetter(let reason):
                state = "dead-lettered"
                deadAt = at
                error = reason
            }
            // The first row names the types; NULLs in the rest take them.
            tuples.append(placeholders(11, after: values.count, casts: tuples.isEmpty ? completionCasts : nil))
            values += [
                lease.deliveryId, lease.leaseToken, state, lease.attempt, nextAttempt, deliveredAt, answeredAt, deadAt, reference, error, reply,
            ]
        }
        // The ids again as one array, and the state compared in a form no index answers, so each row
        // is found by its key whatever the planner believes of the table (with no statistics, or
        // statistics taken when few jobs were pending, it reads every pending job for a few rows).
        let ids = "$\(values.count + 1)"
        values.append(completions.map(\.lease.deliveryId.rawValue))
        let rows = try await session.rows(
            .bound(
                """
                UPDATE deliveries d SET state = v.state, attempts = v.attempts, next_attempt_at = COALESCE(v.next_at, d.next_attempt_at),
                  delivered_at = COALESCE(v.delivered_at, d.delivered_at), answered_at = COALESCE(v.answered_at, d.answered_at),
                  dead_lettered_at = COALESCE(v.dead_at, d.dead_lettered_at),
                  agency_reference = CASE WHEN v.state IN ('delivered', 'accepted') THEN v.reference ELSE d.agency_reference END,
                  last_error = v.error, agency_reply = v.reply, lease_token = NULL, lease_expires_at = NULL
                FROM (VALUES
                """ + tuples.joined(separator: ", ")
                    + """
                    ) AS v(id, token, state, attempts, next_at, delivered_at, answered_at, dead_at, reference, error, reply)
                    WHERE d.id = v.id AND d.id = ANY(\(ids)) AND COALESCE(d.state, '') = 'pending' AND d.lease_token = v.token
                    RETURNING d.id
                    """, values))
        return Set(try rows.map { try $0("id", as: DeliveryID.self) })
    }

    /// The earliest of: a job not leased, due at its time; a leased job, due when its lease runs out.
    /// Asked agency by agency, each the first row of an index (`deliveries_lane`, and
    /// `deliveries_leased` for leases, which a claim only makes on jobs already due), so the
    /// answer costs the same with a backlog of thousands as with none.
    public func nextDueDate(agencies: [AgencyID]) async throws -> Date? {
        guard !agencies.isEmpty else { return nil }
        return try await inIndexOrder { session in try await session.one(Self.nextDueQuery(agencies))?.date("due") }
    }

    /// The next due time's statement: for each agency, the first waiting job and the first lease to
    /// run out, each the first row of its index.
    static func nextDueQuery(_ agencies: [AgencyID]) -> PostgresQuery {
        """
        SELECT MIN(LEAST(waiting.due, leased.due)) AS due FROM unnest(\(agencies)::text[]) AS lane(agency)
        LEFT JOIN LATERAL (
            SELECT next_attempt_at AS due FROM deliveries
            WHERE state = 'pending' AND agency = lane.agency AND lease_token IS NULL ORDER BY next_attempt_at LIMIT 1
        ) waiting ON true
        LEFT JOIN LATERAL (
            SELECT GREATEST(next_attempt_at, lease_expires_at) AS due FROM deliveries
            WHERE lease_token IS NOT NULL AND agency = lane.agency AND state = 'pending' ORDER BY lease_expires_at LIMIT 1
        ) leased ON true
        """
    }

    /// Runs `work`'s statement in a transaction whose planner avoids sorting, so a query that asks
    /// for the first rows of an index in its order reads them from the index and stops, whatever
    /// the statistics say. A queue table's statistics are often taken when few jobs are pending;
    /// planned on those, a claim read every due job of the agency and sorted them (11 ms a claim
    /// with a backlog of 10,000), so the drain after an outage slowed as its backlog grew.
    func inIndexOrder<Value: Sendable>(_ work: @escaping @Sendable (PostgresSession) async throws -> Value) async throws -> Value {
        try await transaction("BEGIN") { session in
            // Sorting off makes a plan that must sort cost 10^10, which would also switch on JIT
            // compilation (tens of milliseconds a statement): off too, in the same round trip.
            try await session.execute("SELECT set_config('enable_sort', 'off', true), set_config('jit', 'off', true)")
            return try await work(session)
        }
    }

    public func laneStates() async throws -> [AgencyLaneState] {
        try await single { session in
            try await session.rows("SELECT state FROM agency_lanes ORDER BY agency").compactMap { StoredText.laneState(try $0("state")) }
        }
    }

    public func saveLaneState(_ state: AgencyLaneState, audit: [AuditEntry]) async throws {
        let json = try StoredText.laneJSON(state)
        try await write { session in
            try await session.execute(
                "INSERT INTO agency_lanes (agency, state) VALUES (\(state.agency), \(json)) ON CONFLICT (agency) DO UPDATE SET state = excluded.state"
            )
            session.append(audit)
            // A resumed agency's jobs are due again on every gateway.
            session.addsDueWork = true
        }
    }

    public func queueCounts(now: Date) async throws -> [LaneCounts] {
        let at = now.timeIntervalSince1970
        return try await read { session in
            var counts: [AgencyID: LaneCounts] = [:]
            var oldest: [AgencyID: ReferralID] = [:]
            // The pending jobs alone, not joined to every referral ever stored: a referral's id
            // begins with the time it was received, so each lane's least referral id is its oldest,
            // and only those referrals are read.
            for row in try await session.rows(
                """
                SELECT agency, COUNT(*) AS pending, COUNT(*) FILTER (WHERE next_attempt_at <= \(at)) AS due,
                       COUNT(*) FILTER (WHERE lease_token IS NOT NULL AND lease_expires_at > \(at)) AS leased,
                       MIN(referral_id) AS oldest
                FROM deliveries WHERE state = 'pending' GROUP BY agency
                """)
            {
                let agency: AgencyID = try row("agency")
                let pending: Int = try row("pending")
                let due: Int = try row("due")
                counts[agency] = LaneCounts(agency: agency, pending: pending, due: due, scheduled: pending - due, inFlight: try row("leased"))
                oldest[agency] = try row("oldest")
            }
            var received: [ReferralID: Date] = [:]
            if !oldest.isEmpty {
                for row in try await session.rows("SELECT id, received_at FROM referrals WHERE id = ANY(\(Array(Set(oldest.values))))") {
                    received[try row("id")] = try row.date("received_at")
                }
            }
            for (agency, referralId) in oldest { counts[agency]?.oldestPendingSince = received[referralId] }
            for row in try await session.rows("SELECT agency, COUNT(*) AS dead FROM deliveries WHERE state = 'dead-lettered' GROUP BY agency") {
                let agency: AgencyID = try row("agency")
                counts[agency, default: LaneCounts(agency: agency)].deadLettered = try row("dead")
            }
            return counts.values.sorted { $0.agency < $1.agency }
        }
    }

    static let deadLetterColumns = "id, referral_id, agency, rule, attempts, last_error, dead_lettered_at, agency_reply"

    public func deadLetters(agency: AgencyID?, limit: Int) async throws -> [DeadLetter] {
        try await ready()
        let sealer = try sealer()
        return try await read { session in
            try await Self.deadLetters(
                """
                SELECT \(unescaped: Self.deadLetterColumns) FROM deliveries
                WHERE state = 'dead-lettered' AND (\(agency)::text IS NULL OR agency = \(agency))
                ORDER BY COALESCE(dead_lettered_at, next_attempt_at) DESC, id DESC LIMIT \(limit)
                """, sealer: sealer, in: session)
        }
    }

    public func requeue(_ selection: DeadLetterSelection, now: Date, audit: @escaping @Sendable (DeadLetter) -> AuditEntry) async throws
        -> [DeadLetter]
    {
        try await ready()
        let sealer = try sealer()
        return try await write { session in
            let found: [DeadLetter]
            switch selection {
            case .deliveries(let ids):
                found = try await Self.deadLetters(
                    """
                    SELECT \(unescaped: Self.deadLetterColumns) FROM deliveries WHERE id = ANY(\(ids)) AND state = 'dead-lettered'
                    ORDER BY array_position(\(ids), id) FOR UPDATE
                    """, sealer: sealer, in: session)
            case .agency(let agency, let since):
                found = try await Self.deadLetters(
                    """
                    SELECT \(unescaped: Self.deadLetterColumns) FROM deliveries WHERE state = 'dead-lettered' AND agency = \(agency)
                      AND COALESCE(dead_lettered_at, 0) >= \(since?.timeIntervalSince1970 ?? 0) ORDER BY id FOR UPDATE
                    """, sealer: sealer, in: session)
            }
            for letter in found {
                // Back in the queue, it escalates again if it fails again.
                try await session.execute(
                    """
                    UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = \(now.timeIntervalSince1970), dead_lettered_at = NULL,
                      lease_token = NULL, lease_expires_at = NULL, escalated_at = NULL
                    WHERE id = \(letter.deliveryId) AND state = 'dead-lettered'
                    """)
                let entry = audit(letter)
                var entries = [entry]
                // Someone acted on it: the item it raised is resolved.
                let items = try await session.rows(
                    """
                    UPDATE attention SET resolved_at = \(Timestamp.string(now)), resolved_by = \(entry.actor ?? "operator"),
                      resolution = \(DeadLetter.requeuedResolution)
                    WHERE delivery_id = \(letter.deliveryId) AND resolved_at IS NULL RETURNING id
                    """)
                for item in items { entries.append(DeadLetter.attentionResolved(try item("id"), letter: letter, at: now, by: entry.actor)) }
                session.append(entries)
            }
            if !found.isEmpty { session.addsDueWork = true }
            return found
        }
    }

    /// The dead letters a query finds, each agency reply opened with its referral's key.
    private static func deadLetters(_ query: PostgresQuery, sealer: RecordSealer, in session: PostgresSession) async throws -> [DeadLetter] {
        var letters: [DeadLetter] = []
        for row in try await session.rows(query) {
            let id = try row("id", as: DeliveryID.self)
            let referralId = try row("referral_id", as: ReferralID.self)
            var reply = try row("agency_reply", as: String?.self)
            if let stored = reply {
                reply = try await referralKey(referralId, sealer: sealer, in: session).openText(
                    stored, column: "deliveries.agency_reply", row: id.rawValue)
            }
            letters.append(
                DeadLetter(
                    deliveryId: id, referralId: referralId, agency: try row("agency"), rule: try row("rule"), attempts: try row("attempts"),
                    reason: try row("last_error") ?? "", deadLetteredAt: try row.date("dead_lettered_at"), agencyReply: reply))
        }
        return letters
    }
}

extension PostgresStore {
    public func referralsRouted(since: Date) async throws -> [AgencyID: Int] {
        try await single { session in
            var counts: [AgencyID: Int] = [:]
            for row in try await session.rows(
                """
                SELECT agency, COUNT(DISTINCT referral_id)::int AS n FROM deliveries
                WHERE id >= \(Identifier.earliest(at: since)) AND notice IS NULL GROUP BY agency
                """)
            {
                counts[try row("agency", as: AgencyID.self)] = try row("n", as: Int.self)
            }
            return counts
        }
    }
}
