import Audit
import Foundation

/// The overview's chart: deliveries and failed attempts in each of the last hours, drawn as SVG by
/// the server from the audit trail's counts, with a table of the same figures for screen readers.
struct ActivityChart {
    struct Hour {
        var label: String
        var delivered: Int
        var failed: Int
    }

    let hours: [Hour]

    /// - Parameter counts: `delivery.attempted` and `delivery.delivered` counts by hour.
    init(counts: [AuditHourCount], now: Date, hours count: Int = 12) {
        var byHour: [String: (attempted: Int, delivered: Int)] = [:]
        for entry in counts {
            if entry.kind == AuditKind.deliveryAttempted.rawValue { byHour[entry.hour, default: (0, 0)].attempted += entry.count }
            if entry.kind == AuditKind.deliveryDelivered.rawValue { byHour[entry.hour, default: (0, 0)].delivered += entry.count }
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_GB")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd'T'HH"
        let start = (now.timeIntervalSince1970 / 3_600).rounded(.down) * 3_600 - Double(count - 1) * 3_600
        hours = (0..<count).map { index in
            let date = Date(timeIntervalSince1970: start + Double(index) * 3_600)
            let key = formatter.string(from: date)
            let figures = byHour[key] ?? (0, 0)
            return Hour(label: String(key.suffix(2)) + ":00", delivered: figures.delivered, failed: max(0, figures.attempted - figures.delivered))
        }
    }

    /// The first hour the chart shows, for the store query.
    static func since(_ now: Date, hours count: Int = 12) -> Date {
        Date(timeIntervalSince1970: (now.timeIntervalSince1970 / 3_600).rounded(.down) * 3_600 - Double(count - 1) * 3_600)
    }

    /// The chart as SVG: two bars an hour, labelled every third hour. Only numbers and fixed words
    /// go in, so it is safe to place in the page as it is.
    var svg: String {
        let width = 640.0
        let height = 200.0
        let left = 40.0
        let bottom = 24.0
        let top = 12.0
        let peak = max(1, hours.map { max($0.delivered, $0.failed) }.max() ?? 1)
        let slot = (width - left) / Double(max(1, hours.count))
        let bar = slot * 0.36
        let scale = (height - bottom - top) / Double(peak)
        var parts: [String] = [
            "<svg class=\"chart\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-labelledby=\"chart-title\" xmlns=\"http://www.w3.org/2000/svg\">",
            "<title id=\"chart-title\">Deliveries and failed attempts in each of the last \(hours.count) hours (UTC)</title>",
            "<line class=\"axis\" x1=\"\(left)\" y1=\"\(height - bottom)\" x2=\"\(width)\" y2=\"\(height - bottom)\"/>",
            "<text class=\"tick\" x=\"\(left - 6)\" y=\"\(top + 4)\" text-anchor=\"end\">\(peak)</text>",
            "<text class=\"tick\" x=\"\(left - 6)\" y=\"\(height - bottom)\" text-anchor=\"end\">0</text>",
        ]
        for (index, hour) in hours.enumerated() {
            let x = left + Double(index) * slot + slot * 0.12
            let delivered = Double(hour.delivered) * scale
            let failed = Double(hour.failed) * scale
            parts.append(
                "<rect class=\"delivered\" x=\"\(Self.fixed(x))\" y=\"\(Self.fixed(height - bottom - delivered))\" width=\"\(Self.fixed(bar))\" height=\"\(Self.fixed(delivered))\"/>"
            )
            parts.append(
                "<rect class=\"failed\" x=\"\(Self.fixed(x + bar))\" y=\"\(Self.fixed(height - bottom - failed))\" width=\"\(Self.fixed(bar))\" height=\"\(Self.fixed(failed))\"/>"
            )
            if index % 3 == 0 || index == hours.count - 1 {
                parts.append("<text class=\"tick\" x=\"\(Self.fixed(x + bar))\" y=\"\(height - 6)\" text-anchor=\"middle\">\(hour.label)</text>")
            }
        }
        parts.append("</svg>")
        return parts.joined(separator: "\n")
    }

    /// The same figures as a table's rows.
    struct Row: Sendable {
        var hour: String
        var delivered: Int
        var failed: Int
    }

    var rows: [Row] {
        hours.map { Row(hour: $0.label, delivered: $0.delivered, failed: $0.failed) }
    }

    static func fixed(_ value: Double) -> String { String(format: "%.1f", value) }
}
