import Audit
import Foundation
import HTTPEdge
import HTTPTypes
import Hummingbird
import NIOCore
import ReferralModel
import UseCases

/// The audit trail's page: check the chain (against the signed checkpoints when configured) and
/// export events between two dates, as the CLI's `audit verify` and `audit export` do.
extension Console {
    func addAuditRoutes(_ admin: RouterGroup<GatewayContext>) {
        admin.get("audit") { _, context in
            pages.page(
                .adminAudit, frame(context, title: "Audit trail", current: "/console/admin/audit"), AuditPage(retention: try await retentionLine()))
        }
        admin.post("audit/verify") { _, context in try await verify(context: context) }
        admin.get("audit/export") { request, context in try await export(request, context: context) }
    }

    func verify(context: GatewayContext) async throws -> Response {
        let verification = try await components.auditTrail.verify()
        let anchored = verification.anchored
        let verdict: AuditPage.Verdict
        switch verification.verdict {
        case .intact(let events, let head):
            verdict = .init(
                intact: true,
                text: "The audit chain is intact: \(events) events, head \(head)."
                    + (anchored
                        ? " It matches every signed checkpoint."
                        : " No checkpoint file is configured, so deleting the newest events would not show."))
        case .broken(let sequence, let reason):
            verdict = .init(intact: false, text: "The audit chain is BROKEN at event \(sequence): \(reason).")
        }
        return pages.page(
            .adminAudit, frame(context, title: "Audit trail", current: "/console/admin/audit"),
            AuditPage(verdict: verdict, retention: try await retentionLine()))
    }

    /// The retention policy's last run, in a sentence.
    func retentionLine() async throws -> String {
        let retention = components.retention
        guard let schedule = retention.schedule else {
            return "Retention runs only by hand (switchboard prune): set retention in switchboard.yaml to run it each day."
        }
        let policy =
            "Retention runs each day at \(schedule.runAtText) (Europe/London), removing the personal data of closed referrals received more than \(schedule.closedAfterDays) days before."
        guard let last = try await retention.lastRun() else { return policy + " It has not run yet." }
        guard let finished = last.finishedAt else {
            return policy + " The run of \(last.day) started at \(Timestamp.string(last.startedAt)) on \(last.gateway) and has not finished."
        }
        let count = last.pruned ?? 0
        return policy
            + " Last run: \(last.day), finished \(Timestamp.string(finished)) on \(last.gateway): \(count) referral\(count == 1 ? "" : "s")' personal data removed."
    }

    /// The events from `since` to `until` (dates, inclusive) as a CSV or JSON Lines download.
    func export(_ request: Request, context: GatewayContext) async throws -> Response {
        let format = AuditExport.Format(rawValue: Self.query(request, "format") ?? "csv") ?? .csv
        func day(_ name: String) throws -> String? {
            guard let text = Self.query(request, name), !text.isEmpty else { return nil }
            guard CalendarDate.isValid(text) else {
                throw ConsoleRefusal(status: .badRequest, message: "The \(name) date must be a date such as 2026-11-26.")
            }
            return text
        }
        let since = try day("since")
        // Until the end of that day: the first moment of the next.
        let until = try day("until").flatMap(Self.nextDay)
        var text = ""
        let count = try await components.auditTrail.export(since: since, until: until, format: format) { text += $0 }
        var headers: HTTPFields = [
            .contentType: format == .csv ? "text/csv; charset=utf-8" : "application/jsonl; charset=utf-8",
            .contentDisposition: "attachment; filename=\"switchboard-audit.\(format == .csv ? "csv" : "jsonl")\"",
        ]
        headers[HTTPField.Name("X-Audit-Events")!] = String(count)
        ConsolePages.securityHeaders(&headers)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// The day after `day` (YYYY-MM-DD), in UTC as the audit trail's times are.
    static func nextDay(_ day: String) -> String? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd"
        return formatter.date(from: day).map { formatter.string(from: $0.addingTimeInterval(86_400)) }
    }
}

struct AuditPage: Sendable {
    struct Verdict: Sendable {
        var intact: Bool
        var text: String
    }

    var verdict: Verdict?
    /// The retention policy and its last run.
    var retention: String?
}
