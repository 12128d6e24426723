import Audit
import Foundation
import ReferralModel
import Storage
import UseCases

extension Simulator {
    /// Gives every answer whose time has come, in order, through the closed loop as an agency's
    /// key would: a decline moves the referral on by the same rules as any other.
    func answerDue(now: Date) async throws {
        while let first = ledger.answers.first, first.at <= now {
            ledger.answers.removeFirst()
            guard let loop = await store.loopReferral(first.referralId),
                let delivery = loop.deliveries.first(where: { $0.deliveryId == first.deliveryId }), delivery.state == .delivered
            else { continue }  // withdrawn meanwhile (a missed deadline moved it on): nothing to answer
            var answer = first.answer
            let day = Self.localDate(first.at)
            if case .accept = answer, let limit = capacity[first.agency], (ledger.acceptedByDay[first.agency]?[day] ?? 0) >= limit {
                answer = .decline(.noCapacity)
            }
            let given: ReferralLoop.Answer
            let reason: DeclineReason?
            switch answer {
            case .accept: (given, reason) = (.accepted, nil)
            case .decline(let why): (given, reason) = (.declined, why)
            }
            do {
                _ = try await components.loop.answer(
                    referralId: first.referralId, agency: first.agency, actor: "simulated:\(first.agency)", answer: given, reason: reason,
                    text: reason == .insufficientInformation ? "Simulated question: please say more about the person's needs." : nil)
            } catch {
                continue
            }
            if let reason {
                ledger.declined[first.agency, default: [:]][reason.rawValue, default: 0] += 1
                if [.closeForNeed, .closeForAgency].contains(reason.consequence) { ledger.closingDeclines.insert(first.deliveryId) }
            } else {
                ledger.acceptedByDay[first.agency, default: [:]][day, default: 0] += 1
            }
        }
    }

    /// Reads the audit events written since the last read: deliveries made (each agency's people
    /// will answer them), acceptances, missed deadlines, failures and attention items.
    func readAudit() async throws {
        while true {
            let events = await store.auditEvents(afterSequence: ledger.auditPosition, limit: 5_000)
            guard let last = events.last else { return }
            ledger.auditPosition = last.sequence
            for event in events { try await note(event) }
        }
    }

    private func note(_ event: AuditEvent) async throws {
        // The clock stands still within a step: every event read after one was written at its time.
        let at = clock.now()
        let record = event.referralId.flatMap { ledger.referrals[$0] }
        switch AuditKind(rawValue: event.kind) {
        case .deliveryDelivered?:
            guard let referralId = event.referralId, let deliveryId = event.deliveryId, let agency = event.agency, let record,
                !ledger.delivered.contains(deliveryId),
                let loop = await store.loopReferral(referralId),
                loop.deliveries.contains(where: { $0.deliveryId == deliveryId && $0.notice == nil })
            else { return }
            ledger.delivered.insert(deliveryId)
            ledger.received[agency, default: 0] += 1
            ledger.receivedByDay[agency, default: [:]][Self.localDate(at), default: 0] += 1
            scheduleAnswer(record: record, referralId: referralId, deliveryId: deliveryId, agency: agency, deliveredAt: at)
        case .referralAccepted?:
            guard let agency = event.agency, let record, let referralId = event.referralId else { return }
            if ledger.someoneHadIt[referralId] == nil { ledger.someoneHadIt[referralId] = at }
            ledger.minutesToAcceptance[agency, default: [:]][record.arrival.urgency.rawValue, default: []].append(
                at.timeIntervalSince(record.arrival.at) / 60)
        case .deliveryOverdue?:
            // A dead letter escalates through the same event ("still dead-lettered"): counted as dead-lettered, not as a missed deadline.
            guard let agency = event.agency, !event.detail.contains("dead-lettered") else { return }
            ledger.deadlinesMissed[agency, default: 0] += 1
            ledger.deadlinesByUrgency.count(record?.arrival.urgency.rawValue ?? "routine")
        case .deliveryAttempted?:
            guard let agency = event.agency, !event.detail.contains(": delivered in ") else { return }
            ledger.failedAttempts[agency, default: 0] += 1
        case .deliveryDeadLettered?:
            guard let agency = event.agency else { return }
            ledger.deadLettered[agency, default: 0] += 1
        case .attentionOpened?:
            guard let referralId = event.referralId else { return }
            // "item ID: why": the why names agencies and codes only.
            var why = event.detail.split(separator: ":", maxSplits: 1).dropFirst().first.map { String($0.dropFirst()) } ?? event.detail
            // Without its "(routine, due …)", so the same reason counts together.
            if let open = why.range(of: " (", options: .backwards), why.hasSuffix(")"), why[open.upperBound...].contains("due ") {
                why = String(why[..<open.lowerBound])
            }
            ledger.attentionOpened.append((at, referralId, why))
            if ledger.someoneHadIt[referralId] == nil { ledger.someoneHadIt[referralId] = at }
        default:
            return
        }
    }

    /// Decides now, from the referral's and agency's own stream of the seed, what the agency's
    /// people will answer and when: after a log-normal while, within their hours, never while the
    /// agency is silent; a delivery made while it is silent is never answered.
    private func scheduleAnswer(record: SimulationLedger.Record, referralId: ReferralID, deliveryId: DeliveryID, agency: AgencyID, deliveredAt: Date)
    {
        guard let behaviour = behaviours[agency] else { return }
        if behaviour.outages.contains(where: { $0.kind == .silent && $0.covers(deliveredAt) }) { return }
        var random = SeededRandom(scenario.seed, 3, UInt64(record.index), Self.stableHash(agency.rawValue))
        let answer = random.pick(behaviour.answers) ?? .accept
        var at = deliveredAt.addingTimeInterval(random.logNormal(median: behaviour.answerMedianMinutes, p95: behaviour.answerP95Minutes) * 60)
        // Within the agency's hours and outside its silences, looked for a quarter of an hour at a time, for at most four weeks.
        for _ in 0..<(4 * 24 * 28) {
            let closed = behaviour.hours.map { !$0.contains(at) } ?? false
            let silent = behaviour.outages.contains { $0.kind == .silent && $0.covers(at) }
            if !closed && !silent { break }
            at.addTimeInterval(900)
        }
        ledger.schedule(.init(at: at, index: record.index, referralId: referralId, deliveryId: deliveryId, agency: agency, answer: answer))
    }

    /// `YYYY-MM-DD` in Europe/London.
    static func localDate(_ instant: Date) -> String {
        let local = LondonTime(instant)
        return String(format: "%04d-%02d-%02d", local.year, local.month, local.dayOfMonth)
    }

    /// FNV-1a: the same for the same text in every run (Swift's own hashing is seeded per process).
    static func stableHash(_ text: String) -> UInt64 {
        text.utf8.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }
}
