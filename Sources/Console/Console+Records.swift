import Foundation
import HTTPEdge
import HTTPTypes
import Hummingbird
import NIOCore
import ReferralModel
import UseCases

/// Subject access, for information governance: the same search as `GET /v1/records` and
/// `switchboard records find`, by form (a POST, so no one's details are in an address).
extension Console {
    func addRecordsRoutes(_ governance: RouterGroup<GatewayContext>) {
        governance.get("records") { _, context in
            pages.page(.adminRecords, frame(context, title: "Subject access", current: "/console/admin/records"), RecordsPage())
        }
        governance.post("records") { request, context in try await searchRecords(request, context: context) }
    }

    func searchRecords(_ request: Request, context: GatewayContext) async throws -> Response {
        let form = try await ConsoleForm.decode(RecordsForm.self, from: request)
        let checked = SubjectAccess.search(
            nhsNumber: TemplateValues.nonEmpty(form.nhsNumber?.trimmingCharacters(in: .whitespaces)),
            familyName: TemplateValues.nonEmpty(form.familyName?.trimmingCharacters(in: .whitespaces)),
            birthDate: TemplateValues.nonEmpty(form.birthDate), reason: form.reason)
        let labels = ["nhsNumber": "NHS number", "familyName": "Family name", "birthDate": "Birth date", "reason": "Reason"]
        if let refusal = checked.refusals.first {
            throw ConsoleRefusal(status: .unprocessableContent, message: "\(labels[refusal.parameter] ?? refusal.parameter) \(refusal.detail)")
        }
        guard let search = checked.search, let principal = context.principal else {
            throw ConsoleRefusal(status: .badRequest, message: "Give an NHS number, or a family name and birth date.")
        }
        let disclosure = try await components.subjectAccess.find(search, reason: checked.reason, actor: principal.actor)
        if form.action == "export" {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            var headers: HTTPFields = [
                .contentType: "application/json; charset=utf-8",
                .contentDisposition: "attachment; filename=\"subject-access.json\"",
            ]
            ConsolePages.securityHeaders(&headers)
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(data: try encoder.encode(disclosure))))
        }
        let count = disclosure.referrals.count
        let page = RecordsPage(
            nhsNumber: form.nhsNumber ?? "", familyName: form.familyName ?? "", birthDate: form.birthDate ?? "", reason: form.reason ?? "",
            searched: true, found: "\(count) referral\(count == 1 ? "" : "s") found",
            referrals: disclosure.referrals.map { record in
                let report = record.report
                let notes = report.notes?.count ?? 0
                return .init(
                    id: record.id.rawValue, receivedAt: report.receivedAt, submittedBy: report.submittedBy, status: report.status.rawValue,
                    deliveries: report.deliveries.map { .init(agency: $0.agency.rawValue, state: $0.state.rawValue) },
                    notes: notes == 0 ? nil : "\(notes) note\(notes == 1 ? "" : "s") (in the download)")
            })
        return pages.page(.adminRecords, frame(context, title: "Subject access", current: "/console/admin/records"), page)
    }
}

struct RecordsForm: Decodable, Sendable {
    var nhsNumber: String?
    var familyName: String?
    var birthDate: String?
    var reason: String?
    var action: String?
}

struct RecordsPage: Sendable {
    struct Referral: Sendable {
        struct Delivery: Sendable {
            var agency: String
            var state: String
        }

        var id: String
        var receivedAt: String
        var submittedBy: String
        var status: String
        var deliveries: [Delivery]
        var notes: String?
    }

    /// The search as the person typed it, so the page shows it again (and can download it).
    var nhsNumber = ""
    var familyName = ""
    var birthDate = ""
    var reason = ""
    var searched = false
    var found = ""
    var referrals: [Referral] = []
}
