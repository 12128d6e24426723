import Audit
import Foundation
import ReferralModel
import Routing
import Settings
import Storage

/// The closed loop: a referral is done when someone has taken it on, not when a server said 2xx.
/// Agencies answer (accepted, declined with a reason, completed) along the lifecycle; a decline,
/// a missed acknowledgement deadline or a dead letter moves the referral on to the next candidate
/// routing kept (then the fallback), through the same consent and minimum-necessary rules as the
/// first routing; and what has nowhere left to go lands on the attention list for a person.
public struct ReferralLoop: Sendable {
    /// What an agency may say about a referral delivered to it.
    public enum Answer: String, Sendable, CaseIterable {
        case accepted, declined, completed

        var state: DeliveryState {
            switch self {
            case .accepted: .accepted
            case .declined: .declined
            case .completed: .completed
            }
        }
    }

    /// Why an answer or a resolution was refused. Nothing changed; refusals of an agency's answer are audited.
    public enum Refusal: Error, Sendable, Equatable {
        /// No such referral (or attention item).
        case notFound
        /// The key answers for no agency (a key configured before agency keys named one).
        case noAgency
        /// The referral was never delivered to the key's agency.
        case notYours
        /// Not along the lifecycle from where the delivery stands.
        case notAlong(current: DeliveryState)
        /// An administrator named an agency that is not configured, already has it, or may not
        /// receive it under the consent policy.
        case agencyNotAllowed(AgencyID, why: String)
        /// A referral sent back for more information must say what is missing.
        case questionRequired
    }

    /// What an agency's answer came to.
    public struct Answered: Sendable, Codable, Equatable {
        public var referralId: ReferralID
        public var deliveryId: DeliveryID
        public var agency: AgencyID
        public var state: DeliveryState
        /// Where the referral went next after a decline, if anywhere.
        public var reroutedTo: AgencyID?
    }

    let store: any ReferralLoopStore & ReferralStore & AuditLog
    let rules: LiveRules
    let clock: any WallClock
    let onRerouted: @Sendable () -> Void
    /// The referrer keys whose referrals' state changes are pushed to their callback.
    let callbacks: Set<String>
    let lanes: any LaneConditionsSource
    let desk: AttentionDesk
    let decoder: ReferralDecoder

    /// - Parameters:
    ///   - callbacks: the ids of referrer keys with a callback configured.
    ///   - lanes: which agencies' lanes are stopped now: an emergency or urgent referral is not moved on to one.
    ///   - alerts: where attention items of some urgencies raise an alert; nil for none.
    ///   - decoder: how an amended referral is validated, as at intake.
    ///   - onRerouted: called after a re-route (or a notice) is durable (the dispatcher's doorbell).
    public init(
        store: any ReferralLoopStore & ReferralStore & AuditLog, rules: LiveRules, clock: any WallClock = SystemClock(), callbacks: Set<String> = [],
        lanes: any LaneConditionsSource = NoLaneConditions(), alerts: Alerts? = nil, decoder: ReferralDecoder = ReferralDecoder(),
        onRerouted: @escaping @Sendable () -> Void = {}
    ) {
        self.callbacks = callbacks
        self.store = store
        self.rules = rules
        self.clock = clock
        self.lanes = lanes
        desk = AttentionDesk(alerts: alerts)
        self.decoder = decoder
        self.onRerouted = onRerouted
    }

    /// An agency's answer about a referral delivered to it. A decline's reason decides what comes
    /// next: out of area, not eligible, no capacity (or another reason) move the referral on to the
    /// next alternative; the person declining ends it for that service, and a duplicate for that
    /// agency, with nothing sent on; insufficient information returns it to the referrer with the
    /// agency's question (`text`, required then).
    /// - Parameter reference: for a duplicate, the agency's own reference for the case it already has.
    public func answer(
        referralId: ReferralID, agency: AgencyID?, actor: String, answer: Answer, reason: DeclineReason?, text: String?, reference: String? = nil
    ) async throws -> Answered {
        let now = clock.now()
        func refuse(_ refusal: Refusal, _ why: String) async throws -> Never {
            try await store.appendAudit([AuditNarrative.answerRefused(referralId: referralId, at: now, actor: actor, agency: agency, why: why)])
            throw refusal
        }
        guard let agency else { try await refuse(.noAgency, "the key answers for no agency") }
        guard let loop = try await store.loopReferral(referralId) else { throw Refusal.notFound }
        guard let delivery = loop.deliveries.last(where: { $0.agency == agency && $0.notice == nil }) else {
            try await refuse(.notYours, "\(agency) tried to answer \(answer.rawValue) for a referral it was not sent")
        }
        guard delivery.state.answers.contains(answer.state) else {
            try await refuse(
                .notAlong(current: delivery.state), "\(answer.rawValue) refused: the delivery to \(agency) is \(delivery.state.rawValue)")
        }
        let consequence = answer == .declined ? (reason ?? .other).consequence : nil
        let question = text.flatMap { $0.isEmpty ? nil : $0 }
        if consequence == .returnToReferrer, question == nil { throw Refusal.questionRequired }
        let returning = consequence == .returnToReferrer
        var change = LoopChange(referralId: referralId, at: now)
        change.transition = .init(
            deliveryId: delivery.deliveryId, from: [delivery.state], to: returning ? .returned : answer.state, declineReason: reason,
            agencyReference: consequence == .closeForAgency ? reference : nil)
        var note: String?
        if let question {
            let id = Identifier.make(now: now)
            change.notes.append(
                ReferralNote(
                    id: id, deliveryId: delivery.deliveryId, at: Timestamp.string(now), author: actor, kind: returning ? "returned" : answer.rawValue,
                    text: question))
            note = id
        }
        let reference = AuditNarrative.DeliveryReference(referralId: referralId, deliveryId: delivery.deliveryId, agency: agency)
        change.audit.append(AuditNarrative.referralAnswered(reference, at: now, actor: actor, state: answer.state, reason: reason, note: note))
        tellReferrer(loop, returning ? "referral.returned" : "referral.\(answer.rawValue)", about: delivery, reason: reason?.rawValue, into: &change)
        var next: AgencyID?
        switch consequence {
        case .reroute?:
            let lanes = RuleSet.cannotWait(loop.referral.urgency) ? await self.lanes.current() : .none
            next = moveOn(loop, from: delivery, why: "declined by \(agency)", actor: actor, lanes: lanes, into: &change)
        case .closeForNeed?, .closeForAgency?:
            change.audit.append(
                AuditNarrative.referralClosedForService(reference, at: now, actor: actor, reason: reason ?? .other, needs: delivery.needs))
        case .returnToReferrer?:
            change.audit.append(AuditNarrative.referralReturned(reference, at: now, actor: actor, note: note ?? "-"))
        case nil:
            break
        }
        guard try await store.applyLoopChange(change) else {
            let current = try await store.loopReferral(referralId)?.deliveries.first { $0.deliveryId == delivery.deliveryId }?.state
            throw Refusal.notAlong(current: current ?? delivery.state)
        }
        onRerouted()
        return Answered(
            referralId: referralId, deliveryId: delivery.deliveryId, agency: agency, state: returning ? .returned : answer.state, reroutedTo: next)
    }

    /// Sends the referral on from `delivery` to the next candidate, or opens an attention item
    /// when none is left. For an emergency or urgent referral, a candidate whose people cannot act
    /// now (`lanes`, hours) is passed over while another can; when none can, it goes to the first
    /// and a person is told. Both go into `change`.
    /// - Returns: the agency it went to, if any.
    func moveOn(
        _ loop: LoopReferral, from delivery: LoopDelivery, why: String, actor: String, lanes: LaneConditions, into change: inout LoopChange
    ) -> AgencyID? {
        let snapshot = rules.current.rules
        let tried = Set(loop.deliveries.map(\.agency)).union(change.added.map(\.route.agency))
        guard
            let (next, waits) = snapshot.nextCandidate(
                for: loop.referral, rule: delivery.rule, alternatives: delivery.alternatives, needs: delivery.needs, tried: tried, at: change.at,
                receivedAt: loop.receivedAt, lanes: lanes)
        else {
            openAttention(loop, delivery: delivery, why: "\(why), and no alternative or fallback is left", actor: actor, into: &change)
            return nil
        }
        let id = DeliveryID.make(now: change.at)
        let fallback = [RuleSet.fallbackRuleId, RuleSet.safeguardingFallbackRuleId, RuleSet.childrenFallbackRuleId].contains(next.rule)
        change.added.append(
            NewDelivery(
                route: Route(agency: next.agency, rule: next.rule, deliveryId: id), alternatives: next.alternatives,
                needs: fallback ? nil : next.needs, deadlineAt: deadline(for: loop.referral, agency: next.agency, from: change.at, rules: snapshot),
                parent: delivery.deliveryId))
        change.audit.append(
            AuditNarrative.referralRerouted(
                referralId: loop.referralId, deliveryId: id, at: change.at, actor: actor, from: delivery.agency, to: next.agency, why: why,
                rule: next.rule, rulesVersion: snapshot.version))
        if let waits {
            openAttention(
                loop, delivery: delivery, why: "\(why); re-routed to \(next.agency), but \(waits), and no one else who may receive it can act now",
                actor: actor, into: &change)
        }
        tellReferrer(
            loop, "referral.rerouted",
            about: LoopDelivery(
                deliveryId: id, agency: next.agency, rule: next.rule, state: .pending, alternatives: [], needs: nil, deadlineAt: nil, escalatedAt: nil
            ),
            into: &change)
        return next.agency
    }

    /// Takes back a delivery the referral has moved on from, so its agency does not act on a
    /// referral that went elsewhere: one it has (delivered, or returned with a question) is told with
    /// a signed `referral.withdrawn` notice through its own adapter.
    func withdraw(_ delivery: LoopDelivery, loop: LoopReferral, why: String, code: String, actor: String, into change: inout LoopChange) {
        guard [.pending, .delivered, .deadLettered, .returned].contains(delivery.state), !change.withdrawn.contains(delivery.deliveryId) else {
            return
        }
        change.withdrawn.append(delivery.deliveryId)
        let told = delivery.state == .delivered || delivery.state == .returned
        if told {
            change.added.append(
                NewDelivery(
                    route: Route(agency: delivery.agency, rule: "withdrawal", deliveryId: DeliveryID.make(now: change.at.addingTimeInterval(0.0002))),
                    alternatives: [], needs: delivery.needs, deadlineAt: nil, parent: delivery.deliveryId,
                    notice: ReferralNotice(type: "referral.withdrawn", about: delivery.deliveryId.rawValue, reason: code)))
        }
        change.audit.append(
            AuditNarrative.deliveryWithdrawn(
                .init(referralId: loop.referralId, deliveryId: delivery.deliveryId, agency: delivery.agency), at: change.at, actor: actor, why: why,
                told: told))
    }

    /// Pushes a state change to the referrer's callback, when its key has one: a notice in the same
    /// transaction as the change, delivered, signed and retried like any delivery.
    func tellReferrer(_ loop: LoopReferral, _ type: String, about delivery: LoopDelivery?, reason: String? = nil, into change: inout LoopChange) {
        guard callbacks.contains(loop.submittedBy) else { return }
        // Ids are time-ordered: a millisecond apart, the notices of one step are sent in the order they happened.
        let earlier = change.added.filter { $0.route.rule == "callback" }.count
        let id = DeliveryID.make(now: change.at.addingTimeInterval(Double(earlier) * 0.001))
        change.added.append(
            NewDelivery(
                route: Route(agency: AgencyID("callback:" + loop.submittedBy), rule: "callback", deliveryId: id), alternatives: [],
                needs: nil, deadlineAt: nil, parent: delivery?.deliveryId,
                notice: ReferralNotice(
                    type: type, about: (delivery?.deliveryId.rawValue ?? loop.referralId.rawValue), reason: reason, agency: delivery?.agency)))
    }

    func openAttention(_ loop: LoopReferral, delivery: LoopDelivery?, why: String, actor: String, into change: inout LoopChange) {
        guard loop.attention == nil, change.openAttention == nil else { return }
        let opened = desk.open(
            referralId: loop.referralId, referral: loop.referral, delivery: delivery, why: why, actor: actor, at: change.at,
            rules: rules.current.rules)
        change.openAttention = opened.item
        change.added += opened.deliveries
        tellReferrer(loop, "referral.needs-attention", about: delivery, into: &change)
        change.audit.append(opened.audit)
    }

    /// When `agency` must have taken `referral` on, routed to it at `start`: the referral's
    /// `respondBy` while it is still ahead, else the urgency's allowance in the agency's settings.
    public static func deadline(for referral: Referral, agency: AgencyID, from start: Date, rules: RuleSet) -> Date {
        let acknowledgement = rules.directory[agency]?.acknowledgement ?? .init()
        // A respondBy already past (a re-route after it) would escalate at once: the allowance runs from now instead.
        let respondBy = referral.respondBy.flatMap { (AcknowledgementDeadline.parse($0) ?? .distantPast) > start ? $0 : nil }
        return AcknowledgementDeadline.due(
            urgency: referral.urgency, respondBy: respondBy, from: start, acknowledgement: acknowledgement, bankHolidays: rules.bankHolidays)
    }

    func deadline(for referral: Referral, agency: AgencyID, from start: Date, rules: RuleSet) -> Date {
        Self.deadline(for: referral, agency: agency, from: start, rules: rules)
    }
}
