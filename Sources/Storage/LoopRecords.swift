import Audit
import Foundation
import ReferralModel

/// A referral after intake, as the closed loop reads it to decide what happens next.
public struct LoopReferral: Sendable {
    public var referralId: ReferralID
    public var referral: Referral
    public var receivedAt: Date
    /// The key id that submitted it.
    public var submittedBy: String
    public var deliveries: [LoopDelivery]
    /// The unresolved attention item, if one is open.
    public var attention: AttentionItem?

    public init(
        referralId: ReferralID, referral: Referral, receivedAt: Date, submittedBy: String, deliveries: [LoopDelivery], attention: AttentionItem?
    ) {
        self.referralId = referralId
        self.referral = referral
        self.receivedAt = receivedAt
        self.submittedBy = submittedBy
        self.deliveries = deliveries
        self.attention = attention
    }
}

/// One delivery as the closed loop sees it.
public struct LoopDelivery: Sendable, Equatable {
    public var deliveryId: DeliveryID
    public var agency: AgencyID
    public var rule: String
    public var state: DeliveryState
    /// Who to try next if this agency does not take it on.
    public var alternatives: [AgencyID]
    /// The needs this agency is told of; nil for all.
    public var needs: [String]?
    /// When the agency must have taken it on; nil for deliveries made before deadlines existed.
    public var deadlineAt: Date?
    /// When it escalated (deadline passed or dead-lettered): it escalates once.
    public var escalatedAt: Date?
    /// Set for a notice about the referral (a cancellation), nil for the referral itself.
    public var notice: ReferralNotice?

    public init(
        deliveryId: DeliveryID, agency: AgencyID, rule: String, state: DeliveryState, alternatives: [AgencyID], needs: [String]?, deadlineAt: Date?,
        escalatedAt: Date?, notice: ReferralNotice? = nil
    ) {
        self.notice = notice
        self.deliveryId = deliveryId
        self.agency = agency
        self.rule = rule
        self.state = state
        self.alternatives = alternatives
        self.needs = needs
        self.deadlineAt = deadlineAt
        self.escalatedAt = escalatedAt
    }
}

/// A delivery to store: a routed target (the agency, the rule, its alternatives and the needs it is
/// told of) under its delivery id, at intake, on a re-route, or as a notice.
public struct NewDelivery: Sendable, Equatable {
    public var deliveryId: DeliveryID
    public var target: RoutingTarget
    public var deadlineAt: Date?
    /// The delivery it follows on from.
    public var parent: DeliveryID?
    public var notice: ReferralNotice?

    public init(deliveryId: DeliveryID, target: RoutingTarget, deadlineAt: Date? = nil, parent: DeliveryID? = nil, notice: ReferralNotice? = nil) {
        self.deliveryId = deliveryId
        self.target = target
        self.deadlineAt = deadlineAt
        self.parent = parent
        self.notice = notice
    }

    public init(
        route: Route, alternatives: [AgencyID] = [], needs: [String]? = nil, deadlineAt: Date? = nil, parent: DeliveryID? = nil,
        notice: ReferralNotice? = nil
    ) {
        self.init(
            deliveryId: route.deliveryId, target: RoutingTarget(agency: route.agency, rule: route.rule, alternatives: alternatives, needs: needs),
            deadlineAt: deadlineAt, parent: parent, notice: notice)
    }

    /// Where it goes, under its id.
    public var route: Route { Route(agency: target.agency, rule: target.rule, deliveryId: deliveryId) }
    public var alternatives: [AgencyID] { target.alternatives }
    public var needs: [String]? { target.needs }
}

/// Everything one step of the closed loop changes, written in one transaction with its audit.
public struct LoopChange: Sendable {
    /// A delivery's move, allowed only from the states given (so two answers cannot both win).
    public struct Transition: Sendable {
        public var deliveryId: DeliveryID
        public var from: Set<DeliveryState>
        public var to: DeliveryState
        public var declineReason: DeclineReason?
        /// The agency's own reference for the person or referral (a duplicate names the case it
        /// already has), kept with the delivery.
        public var agencyReference: String?

        public init(
            deliveryId: DeliveryID, from: Set<DeliveryState>, to: DeliveryState, declineReason: DeclineReason? = nil, agencyReference: String? = nil
        ) {
            self.agencyReference = agencyReference
            self.deliveryId = deliveryId
            self.from = from
            self.to = to
            self.declineReason = declineReason
        }
    }

    public var referralId: ReferralID
    public var at: Date
    public var transition: Transition?
    /// The referral as amended by its referrer, stored in place of the one before.
    public var amendedReferral: Referral?
    /// Deliveries sent back with a question (`returned`) that go back to their agency, now
    /// `delivered` again with a new deadline, by delivery id.
    public var redelivered: [DeliveryID: Date] = [:]
    /// Deliveries that escalated now (deadline passed, dead-lettered), so they escalate once.
    public var escalated: [DeliveryID] = []
    /// Deliveries taken back: pending, delivered or dead-lettered ones become `withdrawn`.
    public var withdrawn: [DeliveryID] = []
    public var added: [NewDelivery] = []
    public var notes: [ReferralNote] = []
    public var openAttention: AttentionItem?
    /// The open item resolved, by whom, how.
    public var resolveAttention: (id: String, by: String, resolution: String)?
    public var audit: [AuditEntry] = []

    public init(referralId: ReferralID, at: Date) {
        self.referralId = referralId
        self.at = at
    }
}

/// A delivery that must escalate now: its deadline passed untaken, or it was dead-lettered.
public struct DueEscalation: Sendable, Equatable {
    public var referralId: ReferralID
    public var deliveryId: DeliveryID
    public var agency: AgencyID
    public var state: DeliveryState
    public var deadlineAt: Date?

    public init(referralId: ReferralID, deliveryId: DeliveryID, agency: AgencyID, state: DeliveryState, deadlineAt: Date?) {
        self.referralId = referralId
        self.deliveryId = deliveryId
        self.agency = agency
        self.state = state
        self.deadlineAt = deadlineAt
    }
}

/// A referral as routing saw it when it arrived: for replaying a proposed change over.
public struct ReceivedReferral: Sendable {
    public var referralId: ReferralID
    public var receivedAt: Date
    public var referral: Referral

    public init(referralId: ReferralID, receivedAt: Date, referral: Referral) {
        self.referralId = referralId
        self.receivedAt = receivedAt
        self.referral = referral
    }
}
