import Audit
import Foundation
import ReferralModel
import Routing
import Settings
import Storage

/// The attention list.
extension ReferralLoop {
    /// What needs a person: emergencies first, then urgent, then routine; the soonest due first.
    public func attention(limit: Int = 500) async throws -> [AttentionItem] {
        try await store.attention(limit: limit)
    }

    /// Open attention items by urgency, with how many are past their due time now: for `/metrics`.
    public func attentionSummary() async throws -> [AttentionSummary] {
        try await store.attentionSummary(now: clock.now())
    }

    /// How an administrator resolves an attention item.
    public enum Resolution: Sendable, Equatable {
        /// Send the referral to this agency (it passes the consent policy like any routing).
        case reroute(agency: AgencyID)
        /// Close the referral with a reason (kept as a note): deliveries nobody has taken on are withdrawn.
        case close(reason: String)
    }

    /// Resolves an open attention item, audited.
    public func resolve(_ itemId: String, _ resolution: Resolution, actor: String) async throws -> AttentionItem {
        guard let item = try await store.attention(limit: 10_000).first(where: { $0.id == itemId }),
            let loop = try await store.loopReferral(item.referralId)
        else { throw Refusal.notFound }
        let now = clock.now()
        var change = LoopChange(referralId: item.referralId, at: now)
        let words: String
        switch resolution {
        case .reroute(let agency):
            let snapshot = rules.current.rules
            guard snapshot.directory[agency] != nil else { throw Refusal.agencyNotAllowed(agency, why: "no such agency is configured") }
            if loop.deliveries.contains(where: { $0.agency == agency && $0.state.isOpen }) {
                throw Refusal.agencyNotAllowed(agency, why: "it already has the referral")
            }
            if snapshot.consentRestriction(loop.referral) != nil, snapshot.directory[agency]?.safeguardingRecipient != true {
                throw Refusal.agencyNotAllowed(agency, why: "the referral is shared without consent, and only safeguarding recipients may receive it")
            }
            let from = item.deliveryId.flatMap { id in loop.deliveries.first { $0.deliveryId == id } }
            // The delivery the item arose from is superseded: its agency does not act on a referral that went elsewhere.
            if let from, from.agency != agency {
                withdraw(from, loop: loop, why: "re-routed to \(agency) by an administrator", code: "rerouted", actor: actor, into: &change)
            }
            let id = DeliveryID.make(now: now)
            change.added.append(
                NewDelivery(
                    route: Route(agency: agency, rule: "administrator", deliveryId: id), alternatives: [], needs: from?.needs,
                    deadlineAt: deadline(for: loop.referral, agency: agency, from: now, rules: snapshot), parent: from?.deliveryId))
            change.audit.append(
                AuditNarrative.referralRerouted(
                    referralId: item.referralId, deliveryId: id, at: now, actor: actor, from: from?.agency ?? "nobody", to: agency,
                    why: "by an administrator", rule: "administrator", rulesVersion: snapshot.version))
            words = "rerouted to \(agency)"
        case .close(let reason):
            let note = Identifier.make(now: now)
            change.notes.append(ReferralNote(id: note, deliveryId: nil, at: Timestamp.string(now), author: actor, kind: "close", text: reason))
            change.withdrawn = loop.deliveries.filter { [.pending, .delivered, .deadLettered, .returned].contains($0.state) }.map(\.deliveryId)
            words = "closed (reason in note \(note))"
        }
        change.resolveAttention = (itemId, actor, words)
        change.audit.append(AuditNarrative.attentionResolved(referralId: item.referralId, item: itemId, at: now, actor: actor, resolution: words))
        _ = try await store.applyLoopChange(change)
        if case .reroute = resolution { onRerouted() }
        var resolved = item
        resolved.resolvedAt = Timestamp.string(now)
        resolved.resolvedBy = actor
        resolved.resolution = words
        return resolved
    }
}

/// What an agency sees of a referral delivered to it: the referral as it was sent (its withheld
/// fields withheld, only the needs it was told of), and where its own delivery stands.
public struct AgencyReferralView: Sendable, Codable, Equatable {
    public var referralId: ReferralID
    public var receivedAt: String
    public var delivery: ReferralReport.Delivery
    public var referral: Referral
    /// The agency's questions about this referral and the referrer's answers, oldest first (absent when none).
    public var notes: [ReferralNote]?
}

extension ReferralLoop {
    /// The referral as `agency` may see it, or nil when it was never delivered to that agency.
    /// - Parameter via: how it was opened, for the audit trail: `agency key`, or `web inbox`.
    public func view(referralId: ReferralID, agency: AgencyID, actor: String, via: String = "agency key") async throws -> AgencyReferralView? {
        guard Identifier.isWellFormed(referralId), let loop = try await store.loopReferral(referralId),
            let report = try await store.report(referralId: referralId),
            let mine = loop.deliveries.last(where: { $0.agency == agency && $0.notice == nil && $0.state != .pending && $0.state != .withdrawn }),
            let delivery = report.deliveries.first(where: { $0.deliveryId == mine.deliveryId })
        else { return nil }
        let settings = rules.current.agencies[agency]
        var referral = loop.referral.withholding(settings?.withhold ?? [])
        if settings?.receivesAllNeeds != true, let needs = mine.needs { referral.needs = needs }
        try await store.appendAudit([
            AuditNarrative.referralViewed(referralId: referralId, at: clock.now(), actor: actor, as: "as sent to \(agency) (\(via))")
        ])
        // Its own questions and their answers: an answer reaches the agency that asked, whatever it withholds.
        let conversation = try await store.notes(referralId: referralId).filter { note in
            ["returned", "answer"].contains(note.kind) && note.deliveryId == mine.deliveryId
        }
        return AgencyReferralView(
            referralId: referralId, receivedAt: report.receivedAt, delivery: delivery, referral: referral,
            notes: conversation.isEmpty ? nil : conversation)
    }

    /// The deliveries to `agency`, newest first.
    public func worklist(agency: AgencyID, states: Set<DeliveryState>?, limit: Int, before: DeliveryID?) async throws -> [WorkItem] {
        try await store.worklist(agency: agency, states: states, limit: limit, before: before)
    }
}
