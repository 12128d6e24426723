import Foundation
import ReferralModel
import Storage

extension Simulator {
    /// Builds the report from the store as it stands at the end and the facts read on the way.
    func report(arrivals: [SimulatedArrival]) async throws -> SimulationReport {
        let until = clock.now()
        var byUrgency = SimulationReport.ByUrgency()
        var outcome: [String: Int] = [:]
        var unaccounted: [SimulationReport.Unaccounted] = []
        var untilSomeone: [String: [Double]] = [:]
        var states: [AgencyID: [DeliveryState: Int]] = [:]
        for id in ledger.order {
            guard let record = ledger.referrals[id], let loop = await store.loopReferral(id) else { continue }
            byUrgency.count(record.arrival.urgency.rawValue)
            if let had = ledger.someoneHadIt[id] {
                untilSomeone[record.arrival.urgency.rawValue, default: []].append(had.timeIntervalSince(record.arrival.at) / 60)
            }
            let lines = loop.deliveries.filter { $0.notice == nil }
            for line in lines { states[line.agency, default: [:]][line.state, default: 0] += 1 }
            let open = lines.filter { [.pending, .delivered, .returned, .deadLettered].contains($0.state) }
            let taken = lines.contains { $0.state == .accepted || $0.state == .completed }
            let closed = lines.contains { line in
                line.state == .declined && ledger.closingDeclines.contains(line.deliveryId)
            }
            let kind: String
            if loop.attention != nil {
                kind = "with a person (attention list)"
            } else if open.isEmpty && taken {
                kind = "taken on"
            } else if open.isEmpty && closed {
                kind = "closed with a reason"
            } else {
                kind = "unaccounted for"
                unaccounted.append(
                    .init(
                        reference: record.arrival.reference, urgency: record.arrival.urgency.rawValue,
                        why: Self.why(open: open, lines: lines, taken: taken, until: until)))
            }
            outcome[kind, default: 0] += 1
        }
        let items = try await components.loop.attention(limit: 1_000_000)
        var waiting: [String: [Double]] = [:]
        for item in items where item.resolvedAt == nil {
            guard let since = Timestamp.parse(item.since) else { continue }
            waiting[item.urgency?.rawValue ?? "routine", default: []].append(until.timeIntervalSince(since) / 60)
        }
        var opened = SimulationReport.ByUrgency()
        var reasons: [String: Int] = [:]
        for item in ledger.attentionOpened {
            opened.count(ledger.referrals[item.referralId]?.arrival.urgency.rawValue ?? "routine")
            reasons[item.reason, default: 0] += 1
        }
        let topReasons = reasons.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.prefix(10)
        return SimulationReport(
            scenario: name, seed: scenario.seed, from: Timestamp.minute(scenario.start), arrivalsUntil: Timestamp.minute(scenario.arrivalsEnd),
            until: Timestamp.minute(until),
            referrals: .init(
                submitted: ledger.submitted, acknowledged: ledger.order.count, refused: ledger.refused, heldAtIntake: ledger.heldAtIntake,
                byUrgency: byUrgency, outcome: outcome, minutesUntilSomeoneHadIt: untilSomeone.mapValues(SimulationReport.Percentiles.init)),
            agencies: behaviours.keys.sorted().map { agency in agencyFigures(agency, states: states[agency] ?? [:]) },
            attention: .init(
                opened: opened, openAtEnd: items.filter { $0.resolvedAt == nil }.count,
                minutesWaiting: waiting.mapValues(SimulationReport.Percentiles.init), reasons: Dictionary(uniqueKeysWithValues: Array(topReasons))),
            deadlinesMissed: ledger.deadlinesByUrgency,
            unaccounted: unaccounted)
    }

    private func agencyFigures(_ agency: AgencyID, states: [DeliveryState: Int]) -> SimulationReport.AgencyFigures {
        let limit = capacity[agency]
        let over = limit.map { limit in (ledger.receivedByDay[agency] ?? [:]).filter { $0.value > limit }.keys.sorted() } ?? []
        return SimulationReport.AgencyFigures(
            agency: agency.rawValue, received: ledger.received[agency] ?? 0, accepted: (states[.accepted] ?? 0) + (states[.completed] ?? 0),
            completed: states[.completed] ?? 0, declined: ledger.declined[agency] ?? [:], withdrawn: states[.withdrawn] ?? 0,
            waiting: (states[.pending] ?? 0) + (states[.delivered] ?? 0) + (states[.returned] ?? 0),
            deadlinesMissed: ledger.deadlinesMissed[agency] ?? 0,
            minutesToAcceptance: (ledger.minutesToAcceptance[agency] ?? [:]).mapValues(SimulationReport.Percentiles.init),
            capacityPerDay: limit, daysOverCapacity: over, failedAttempts: ledger.failedAttempts[agency] ?? 0,
            deadLettered: ledger.deadLettered[agency] ?? 0)
    }

    /// Why a referral is not accounted for, in ids, states and times only.
    static func why(open: [LoopDelivery], lines: [LoopDelivery], taken: Bool, until: Date) -> String {
        if lines.isEmpty { return "sent to no agency, and no attention item was opened" }
        if open.isEmpty {
            return "no agency took it on (" + lines.map { "\($0.agency) \($0.state.rawValue)" }.joined(separator: ", ")
                + ") and no attention item was opened"
        }
        let waiting = open.map { line in
            let deadline =
                line.escalatedAt != nil
                ? "escalated"
                : line.deadlineAt.map { $0 > until ? "deadline \(Timestamp.minute($0)) not yet reached" : "deadline passed" } ?? "no deadline"
            return "\(line.agency) \(line.state.rawValue) (\(deadline))"
        }
        return (taken ? "taken on by one agency; " : "") + "still waiting on " + waiting.joined(separator: ", ")
    }
}
