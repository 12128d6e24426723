import Audit
import Foundation
import ReferralModel
import Storage

/// One row of an agency's inbox: the delivery, and what the agency may see of the person at a
/// glance (name, age, the needs it was told of) to decide what to open first.
public struct InboxRow: Sendable, Equatable {
    public var item: WorkItem
    public var name: String
    /// In whole years today; nil when the birth date does not read.
    public var age: Int?
    public var needs: [String]
}

extension ReferralLoop {
    /// The referrals an agency answers first: those waiting for its answer (delivered, or returned
    /// with a question), soonest due first, at most `limit` from `offset`; and how many there are
    /// in all (up to 1,000). Listing names is reading personal data: each page is audited.
    public func inboxToAnswer(agency: AgencyID, actor: String, limit: Int, offset: Int) async throws -> (rows: [InboxRow], total: Int) {
        let open = try await store.worklist(agency: agency, states: [.delivered, .returned], limit: 1_000, before: nil)
        // Soonest due first; one without a deadline (from before deadlines were kept) after those with one.
        let ordered = open.sorted { ($0.deadlineAt ?? "~", $0.deliveryId) < ($1.deadlineAt ?? "~", $1.deliveryId) }
        let page = Array(ordered.dropFirst(offset).prefix(limit))
        return (try await rows(page, agency: agency, actor: actor), ordered.count)
    }

    /// The deliveries to `agency` in `states`, newest first, a page at a time, with what it may see of each person.
    public func inbox(agency: AgencyID, actor: String, states: Set<DeliveryState>?, limit: Int, before: DeliveryID?) async throws -> [InboxRow] {
        try await rows(try await store.worklist(agency: agency, states: states, limit: limit, before: before), agency: agency, actor: actor)
    }

    private func rows(_ items: [WorkItem], agency: AgencyID, actor: String) async throws -> [InboxRow] {
        let settings = rules.current.agencies[agency]
        let today = CalendarDate.string(from: clock.now())
        var rows: [InboxRow] = []
        for item in items {
            guard let loop = try await store.loopReferral(item.referralId) else { continue }
            let referral = loop.referral.withholding(settings?.withhold ?? [])
            let told = loop.deliveries.first { $0.deliveryId == item.deliveryId }?.needs
            rows.append(
                InboxRow(
                    item: item, name: "\(referral.subject.givenName) \(referral.subject.familyName)",
                    age: CalendarDate.age(birthDate: referral.subject.birthDate, on: today),
                    needs: settings?.receivesAllNeeds == true ? referral.needs : told ?? referral.needs))
        }
        if !rows.isEmpty {
            try await store.appendAudit([AuditNarrative.inboxViewed(agency: agency, at: clock.now(), actor: actor, count: rows.count)])
        }
        return rows
    }
}
