import Foundation

extension SimulationReport {
    /// The report as an administrator reads it at a terminal.
    public var text: String {
        var lines: [String] = []
        lines.append("Simulated \(scenario) (seed \(seed)): referrals arriving \(from) to \(arrivalsUntil), run until \(until).")
        lines.append("")
        let refusedCount = referrals.refused.values.reduce(0, +)
        lines.append(
            "Referrals: \(referrals.submitted) submitted, \(referrals.acknowledged) acknowledged (\(referrals.byUrgency.emergency) emergency, "
                + "\(referrals.byUrgency.urgent) urgent, \(referrals.byUrgency.routine) routine), \(refusedCount) refused at intake, "
                + "\(referrals.heldAtIntake) held at intake for a person.")
        for (field, count) in referrals.refused.sorted(by: { $0.key < $1.key }) { lines.append("  refused for \(field): \(count)") }
        for (kind, count) in referrals.outcome.sorted(by: { $0.key < $1.key }) { lines.append("  \(kind): \(count)") }
        for urgency in ["emergency", "urgent", "routine"] {
            guard let until = referrals.minutesUntilSomeoneHadIt[urgency] else { continue }
            lines.append(
                "  \(urgency): someone had it (accepted, or a person told) after p50 \(Self.number(until.p50)) min, "
                    + "p95 \(Self.number(until.p95)), longest \(Self.number(until.max))")
        }
        lines.append("")
        lines.append("Agencies")
        let header = ["agency", "received", "accepted", "declined", "withdrawn", "waiting", "missed", "failed", "to acceptance p50/p95 (minutes)"]
        var rows = [header]
        for agency in agencies {
            let declined = agency.declined.values.reduce(0, +)
            let times = ["emergency", "urgent", "routine"].compactMap { urgency in
                agency.minutesToAcceptance[urgency].map { "\(urgency) \(Self.number($0.p50))/\(Self.number($0.p95))" }
            }
            rows.append([
                agency.agency, "\(agency.received)", "\(agency.accepted)", "\(declined)", "\(agency.withdrawn)", "\(agency.waiting)",
                "\(agency.deadlinesMissed)", "\(agency.failedAttempts)", times.isEmpty ? "-" : times.joined(separator: "; "),
            ])
        }
        lines += Self.table(rows).map { "  " + $0 }
        for agency in agencies where !agency.declined.isEmpty || !agency.daysOverCapacity.isEmpty {
            var notes: [String] = []
            if !agency.declined.isEmpty {
                notes.append("declined " + agency.declined.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
            }
            if let capacity = agency.capacityPerDay, !agency.daysOverCapacity.isEmpty {
                notes.append("over its \(capacity) a day on \(agency.daysOverCapacity.joined(separator: ", "))")
            }
            lines.append("  \(agency.agency): " + notes.joined(separator: "; "))
        }
        lines.append("")
        lines.append(
            "Attention list: \(attention.opened.total) items opened (\(attention.opened.emergency) emergency, \(attention.opened.urgent) urgent, "
                + "\(attention.opened.routine) routine); \(attention.openAtEnd) still open at the end.")
        for urgency in ["emergency", "urgent", "routine"] {
            guard let waited = attention.minutesWaiting[urgency] else { continue }
            lines.append("  \(urgency): waiting for a person p50 \(Self.number(waited.p50)) min, p95 \(Self.number(waited.p95)) min")
        }
        for (reason, count) in attention.reasons.sorted(by: { ($1.value, $0.key) < ($0.value, $1.key) }) {
            lines.append("  \(count) × \(reason)")
        }
        lines.append("")
        lines.append(
            "Deadlines missed: \(deadlinesMissed.total) (\(deadlinesMissed.emergency) emergency, \(deadlinesMissed.urgent) urgent, "
                + "\(deadlinesMissed.routine) routine).")
        lines.append("")
        if unaccounted.isEmpty {
            lines.append("Unaccounted for: 0. Every acknowledged referral was taken on, closed with a reason, or is in front of a person.")
        } else {
            lines.append("Unaccounted for: \(unaccounted.count).")
            for item in unaccounted.prefix(50) { lines.append("  \(item.reference) (\(item.urgency)): \(item.why)") }
            if unaccounted.count > 50 { lines.append("  … and \(unaccounted.count - 50) more (all are in the JSON report)") }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The report as JSON: keys sorted, so the same run gives the same bytes.
    public var json: Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)) ?? Data()
    }

    static func number(_ value: Double) -> String {
        value >= 100 || value == value.rounded() ? String(Int(value.rounded())) : String(format: "%.1f", value)
    }

    static func table(_ rows: [[String]]) -> [String] {
        let widths = (0..<(rows.first?.count ?? 0)).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
    }
}
