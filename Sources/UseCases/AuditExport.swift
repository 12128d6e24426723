import Audit
import Foundation
import Storage

/// The audit trail for governance reviews: events between two times, as JSON Lines or CSV
/// (RFC 4180: every field quoted, quotes doubled), read a page at a time in constant memory.
public enum AuditExport {
    public enum Format: String, Sendable, CaseIterable {
        case jsonl, csv
    }

    public static let csvHeader = "sequence,at,kind,actor,referral_id,delivery_id,agency,detail,previous_hash,hash"

    /// Writes every event from `since` (inclusive) to `until` (exclusive) through `write`.
    /// - Returns: how many were written.
    @discardableResult
    public static func export(
        from store: any AuditLog, since: String?, until: String?, format: Format, pageSize: Int = 5_000, write: (String) throws -> Void
    ) async throws -> Int {
        if format == .csv { try write(csvHeader + "\r\n") }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var after: Int64 = 0
        var count = 0
        while true {
            let page = try await store.auditEvents(afterSequence: after, limit: pageSize)
            for event in page where (since.map { event.at >= $0 } ?? true) && (until.map { event.at < $0 } ?? true) {
                switch format {
                case .jsonl: try write(String(decoding: try encoder.encode(event), as: UTF8.self) + "\n")
                case .csv: try write(csvLine(event) + "\r\n")
                }
                count += 1
            }
            guard let last = page.last, page.count == pageSize else { return count }
            after = last.sequence
        }
    }

    static func csvLine(_ event: AuditEvent) -> String {
        [
            String(event.sequence), event.at, event.kind, event.actor ?? "", event.referralId?.rawValue ?? "", event.deliveryId?.rawValue ?? "",
            event.agency?.rawValue ?? "",
            event.detail, event.previousHash, event.hash,
        ].map { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }.joined(separator: ",")
    }
}
