import Audit
import Foundation
import GRDB
import ReferralModel

extension SQLiteStore {
    /// Chooses each lane's jobs on a reader, through the lane index, and claims them in memory: a
    /// lease costs the writer nothing, so it never slows intake's commits.
    public func leaseDueDeliveries(now: Date, lanes: [LaneDemand]) async throws -> [LeasedDelivery] {
        let lanes = lanes.filter { $0.limit > 0 }
        guard !lanes.isEmpty else { return [] }
        let nowSeconds = now.timeIntervalSince1970
        let held = heldLeases(now: now)
        let candidates = try await pool.read { db -> [(LeasedDelivery, TimeInterval)] in
            var found: [(LeasedDelivery, TimeInterval)] = []
            let statement = try db.cachedStatement(
                sql: """
                    SELECT d.id, d.referral_id, d.rule, d.attempts, d.needs, d.notice, r.body, r.received_at, r.request_id, r.data_key,
                           r.sealed_key
                    FROM deliveries d JOIN referrals r ON r.id = d.referral_id
                    WHERE d.state = 'pending' AND d.agency = ?3 AND d.next_attempt_at - d.head_start <= ?1 AND d.next_attempt_at <= ?1
                    ORDER BY d.next_attempt_at - d.head_start LIMIT ?2
                    """)
            for lane in lanes {
                // Jobs leased already still look pending: read past as many as this lane holds.
                let skip = held.byAgency[lane.agency, default: 0]
                var taken = 0
                let rows = try Row.fetchCursor(statement, arguments: [nowSeconds, lane.limit + skip, lane.agency])
                while taken < lane.limit, let row = try rows.next() {
                    let id: DeliveryID = row["id"]
                    if held.ids.contains(id) { continue }
                    let referralId: ReferralID = row["referral_id"]
                    let key = try self.sealer.referralKey(referralId, dataKey: row["data_key"], sealed: row["sealed_key"])
                    let body = try key.open(row["body"], column: "referrals.body", row: referralId.rawValue)
                    var lease = LeasedDelivery(
                        deliveryId: id, referralId: referralId, agency: lane.agency, rule: row["rule"],
                        attempt: row["attempts"] + 1, leaseToken: "", referral: try ReferralDecoder.decodeStored(body),
                        receivedAt: Date(timeIntervalSince1970: row["received_at"]), needs: StoredText.words(row["needs"]),
                        notice: StoredText.notice(row["notice"]))
                    lease.requestId = row["request_id"]
                    found.append((lease, lane.leaseDuration))
                    taken += 1
                }
            }
            return found
        }
        let token = Identifier.make(now: now)
        return leases.withLock { leases in
            candidates.compactMap { candidate, duration in
                var lease = candidate
                if let current = leases[lease.deliveryId], current.expiresAt > now { return nil }
                lease.leaseToken = token
                leases[lease.deliveryId] = Lease(token: token, agency: lease.agency, expiresAt: now.addingTimeInterval(duration))
                return lease
            }
        }
    }

    /// The leases in force at `now` (every lease, expired or not, for `.distantPast`): their
    /// delivery ids, and how many each agency holds.
    private func heldLeases(now: Date) -> (ids: Set<DeliveryID>, byAgency: [AgencyID: Int]) {
        leases.withLock { leases in
            var ids = Set<DeliveryID>()
            var byAgency: [AgencyID: Int] = [:]
            for (id, lease) in leases where lease.expiresAt > now {
                ids.insert(id)
                byAgency[lease.agency, default: 0] += 1
            }
            return (ids, byAgency)
        }
    }

    public func finish(_ completions: [DeliveryCompletion]) async throws -> [Bool] {
        guard !completions.isEmpty else { return [] }
        let recorded = try await writer.perform { db, cursor in
            try completions.map { completion -> Bool in
                let lease = completion.lease
                // A lost lease means another worker owns the job now: write nothing for it.
                let holds = self.leases.withLock { $0[lease.deliveryId]?.token == lease.leaseToken }
                guard holds else { return false }
                try Self.record(completion, sealer: self.sealer, in: db)
                guard db.changesCount == 1 else { return false }
                try Self.append(completion.audit, in: db, cursor: &cursor)
                return true
            }
        }
        // Released only once the result is committed, so no reader can lease the job meanwhile.
        leases.withLock { leases in
            for completion in completions where leases[completion.lease.deliveryId]?.token == completion.lease.leaseToken {
                leases[completion.lease.deliveryId] = nil
            }
        }
        return recorded
    }

    private static func record(_ completion: DeliveryCompletion, sealer: RecordSealer, in db: Database) throws {
        let lease = completion.lease
        let at = completion.at.timeIntervalSince1970
        // An agency's reply may repeat what it was sent: sealed with its referral's key.
        let reply = try completion.agencyReply.map {
            try referralKey(lease.referralId, sealer: sealer, in: db).sealText($0, column: "deliveries.agency_reply", row: lease.deliveryId.rawValue)
        }
        switch completion.result {
        case .delivered(let reference), .accepted(let reference):
            let accepted = if case .accepted = completion.result { true } else { false }
            try db.cachedStatement(
                sql: """
                    UPDATE deliveries SET state = ?, attempts = ?, delivered_at = ?, agency_reference = ?, last_error = NULL, answered_at = ?,
                      agency_reply = NULL
                    WHERE id = ? AND state = 'pending'
                    """
            ).execute(arguments: [accepted ? "accepted" : "delivered", lease.attempt, at, reference, accepted ? at : nil, lease.deliveryId])
        case .retry(let next, let error):
            try db.cachedStatement(
                sql: """
                    UPDATE deliveries SET attempts = ?, next_attempt_at = ?, last_error = ?, agency_reply = ?
                    WHERE id = ? AND state = 'pending'
                    """
            ).execute(arguments: [lease.attempt, next.timeIntervalSince1970, error, reply, lease.deliveryId])
        case .deadLetter(let error):
            try db.cachedStatement(
                sql: """
                    UPDATE deliveries SET state = 'dead-lettered', attempts = ?, last_error = ?, dead_lettered_at = ?, agency_reply = ?
                    WHERE id = ? AND state = 'pending'
                    """
            ).execute(arguments: [lease.attempt, error, at, reply, lease.deliveryId])
        }
    }

    public func nextDueDate(agencies: [AgencyID]) async throws -> Date? {
        guard !agencies.isEmpty else { return nil }
        let held = leases.withLock { $0 }
        let leasedByAgency = heldLeases(now: .distantPast).byAgency
        return try await pool.read { db in
            var earliest: Date?
            let statement = try db.cachedStatement(
                sql: "SELECT id, next_attempt_at FROM deliveries WHERE state = 'pending' AND agency = ? ORDER BY next_attempt_at LIMIT ?")
            for agency in agencies {
                let rows = try Row.fetchCursor(statement, arguments: [agency, leasedByAgency[agency, default: 0] + 1])
                while let row = try rows.next() {
                    let id: DeliveryID = row["id"]
                    var due = Date(timeIntervalSince1970: row["next_attempt_at"])
                    if let lease = held[id] { due = max(due, lease.expiresAt) }
                    earliest = min(earliest ?? due, due)
                    if held[id] == nil { break }
                }
            }
            return earliest
        }
    }

    public func laneStates() async throws -> [AgencyLaneState] {
        try await pool.read { db in
            try String.fetchAll(db, sql: "SELECT state FROM agency_lanes ORDER BY agency").compactMap(StoredText.laneState)
        }
    }

    public func saveLaneState(_ state: AgencyLaneState, audit: [AuditEntry]) async throws {
        let json = try StoredText.laneJSON(state)
        try await writer.perform { db, cursor in
            try db.execute(
                sql: "INSERT INTO agency_lanes (agency, state) VALUES (?, ?) ON CONFLICT(agency) DO UPDATE SET state = excluded.state",
                arguments: [state.agency, json])
            try Self.append(audit, in: db, cursor: &cursor)
        }
    }

    public func queueCounts(now: Date) async throws -> [LaneCounts] {
        let inFlight = heldLeases(now: now).byAgency
        return try await pool.read { db in
            var counts: [AgencyID: LaneCounts] = [:]
            // The pending jobs alone: a referral's id begins with the time it was received, so each
            // lane's least referral id is the referral that has waited longest (a job inserted later,
            // by a re-route, can belong to an older referral), and only that referral is read.
            for row in try Row.fetchAll(
                db,
                sql: """
                    SELECT agency, COUNT(*) AS pending, SUM(next_attempt_at <= ?) AS due, MIN(referral_id) AS oldest
                    FROM deliveries WHERE state = 'pending' GROUP BY agency
                    """, arguments: [now.timeIntervalSince1970])
            {
                let agency: AgencyID = row["agency"]
                let pending: Int = row["pending"]
                let due: Int = row["due"]
                let oldest = try Double.fetchOne(
                    db, sql: "SELECT received_at FROM referrals WHERE id = ?", arguments: [row["oldest"] as String])
                counts[agency] = LaneCounts(
                    agency: agency, pending: pending, due: due, scheduled: pending - due, inFlight: inFlight[agency] ?? 0,
                    oldestPendingSince: oldest.map { Date(timeIntervalSince1970: $0) })
            }
            for row in try Row.fetchAll(
                db, sql: "SELECT agency, COUNT(*) AS dead FROM deliveries WHERE state = 'dead-lettered' GROUP BY agency")
            {
                let agency: AgencyID = row["agency"]
                counts[agency, default: LaneCounts(agency: agency)].deadLettered = row["dead"]
            }
            return counts.values.sorted { $0.agency < $1.agency }
        }
    }

    public func deadLetters(agency: AgencyID?, limit: Int) async throws -> [DeadLetter] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT id, referral_id, agency, rule, attempts, last_error, dead_lettered_at, agency_reply FROM deliveries
                    WHERE state = 'dead-lettered' AND (?1 IS NULL OR agency = ?1)
                    ORDER BY COALESCE(dead_lettered_at, next_attempt_at) DESC, id DESC LIMIT ?2
                    """, arguments: [agency, limit]
            ).map { try Self.deadLetter($0, sealer: self.sealer, in: db) }
        }
    }

    public func requeue(_ selection: DeadLetterSelection, now: Date, audit: @escaping @Sendable (DeadLetter) -> AuditEntry) async throws
        -> [DeadLetter]
    {
        try await writer.perform { db, cursor in
            let columns = "id, referral_id, agency, rule, attempts, last_error, dead_lettered_at, agency_reply"
            let found: [DeadLetter]
            switch selection {
            case .deliveries(let ids):
                found = try ids.compactMap { id in
                    try Row.fetchOne(db, sql: "SELECT \(columns) FROM deliveries WHERE id = ? AND state = 'dead-lettered'", arguments: [id])
                }.map { try Self.deadLetter($0, sealer: self.sealer, in: db) }
            case .agency(let agency, let since):
                found = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT \(columns) FROM deliveries WHERE state = 'dead-lettered' AND agency = ?
                          AND COALESCE(dead_lettered_at, 0) >= ? ORDER BY id
                        """, arguments: [agency, since?.timeIntervalSince1970 ?? 0]
                ).map { try Self.deadLetter($0, sealer: self.sealer, in: db) }
            }
            for letter in found {
                // Back in the queue, it escalates again if it fails again.
                try db.execute(
                    sql: """
                        UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = ?, dead_lettered_at = NULL, escalated_at = NULL
                        WHERE id = ? AND state = 'dead-lettered'
                        """, arguments: [now.timeIntervalSince1970, letter.deliveryId])
                let entry = audit(letter)
                var entries = [entry]
                // Someone acted on it: the item it raised is resolved.
                for item in try String.fetchAll(
                    db, sql: "SELECT id FROM attention WHERE delivery_id = ? AND resolved_at IS NULL", arguments: [letter.deliveryId])
                {
                    try db.execute(
                        sql: "UPDATE attention SET resolved_at = ?, resolved_by = ?, resolution = ? WHERE id = ?",
                        arguments: [Timestamp.string(now), entry.actor ?? "operator", DeadLetter.requeuedResolution, item])
                    entries.append(DeadLetter.attentionResolved(item, letter: letter, at: now, by: entry.actor))
                }
                try Self.append(entries, in: db, cursor: &cursor)
            }
            return found
        }
    }

    private static func deadLetter(_ row: Row, sealer: RecordSealer, in db: Database) throws -> DeadLetter {
        let at: Double? = row["dead_lettered_at"]
        let id: DeliveryID = row["id"]
        let referralId: ReferralID = row["referral_id"]
        let stored: String? = row["agency_reply"]
        let reply = try stored.map {
            try referralKey(referralId, sealer: sealer, in: db).openText($0, column: "deliveries.agency_reply", row: id.rawValue)
        }
        return DeadLetter(
            deliveryId: id, referralId: referralId, agency: row["agency"], rule: row["rule"], attempts: row["attempts"],
            reason: row["last_error"] ?? "", deadLetteredAt: at.map { Date(timeIntervalSince1970: $0) }, agencyReply: reply)
    }
}

extension SQLiteStore {
    public func referralsRouted(since: Date) async throws -> [AgencyID: Int] {
        try await pool.read { db in
            var counts: [AgencyID: Int] = [:]
            for row in try Row.fetchAll(
                db, sql: "SELECT agency, COUNT(DISTINCT referral_id) AS n FROM deliveries WHERE id >= ? AND notice IS NULL GROUP BY agency",
                arguments: [Identifier.earliest(at: since)])
            {
                counts[row["agency"]] = row["n"]
            }
            return counts
        }
    }
}
