/// Where one delivery stands: first the transport (pending until the agency's endpoint takes it,
/// or dead-lettered), then the agency's own answer.
public enum DeliveryState: String, Sendable, Codable, CaseIterable {
    /// Waiting for its next attempt (first, or after a retryable failure).
    case pending
    /// The agency's endpoint answered with success; nobody has taken it on yet.
    case delivered
    /// Will not be tried again without an administrator: a permanent failure or attempts exhausted.
    case deadLettered = "dead-lettered"
    /// The agency has taken it on.
    case accepted
    /// The agency will not take it on, with a reason; the referral moves on to the next candidate.
    case declined
    /// The agency has done what was asked.
    case completed
    /// Taken back before the agency answered: the referral was cancelled, re-routed elsewhere by an
    /// administrator, or superseded (a missed deadline, an agency that could not act).
    case withdrawn
    /// Sent back to the referrer with a question (declined for insufficient information): the
    /// agency waits for the referrer's amendment, which returns it to `delivered`.
    case returned

    /// The states an agency's answer may move a delivery to from this one.
    public var answers: Set<DeliveryState> {
        switch self {
        case .delivered, .returned: [.accepted, .declined]
        case .accepted: [.completed]
        default: []
        }
    }

    /// Still someone's to act on: not declined, withdrawn or dead.
    public var isOpen: Bool { [.pending, .delivered, .accepted, .returned].contains(self) }
}

/// Why an agency declines a referral: one documented code, with free text beside it. The reason
/// decides what happens next (`next`).
public enum DeclineReason: String, Sendable, Codable, CaseIterable {
    case outOfArea = "out-of-area"
    case notEligible = "not-eligible"
    case noCapacity = "no-capacity"
    case duplicate
    case personDeclined = "person-declined"
    case insufficientInformation = "insufficient-information"
    case other

    /// What a decline for this reason does to the referral.
    public enum Consequence: Sendable, Equatable {
        /// On to the next alternative (then the fallback; then a person).
        case reroute
        /// Closed for the needs this agency was sent: the person said no, and their "no" is final
        /// for that service; their details go nowhere else for it.
        case closeForNeed
        /// Closed for this agency only: it already has the person (under its own reference).
        case closeForAgency
        /// Back to the referrer with the agency's question, to amend and send again.
        case returnToReferrer
    }

    public var consequence: Consequence {
        switch self {
        case .outOfArea, .notEligible, .noCapacity, .other: .reroute
        case .personDeclined: .closeForNeed
        case .duplicate: .closeForAgency
        case .insufficientInformation: .returnToReferrer
        }
    }
}

/// Where a referral stands as a whole, derived from its deliveries.
public enum ReferralStatus: String, Sendable, Codable, CaseIterable {
    /// Routed; at least one delivery has not yet arrived.
    case routed
    /// Every target agency has it; none has taken it on yet.
    case delivered
    /// A delivery is dead-lettered, every candidate declined, or a deadline passed with nowhere to
    /// go: a person must act (the attention list says why).
    case needsAttention = "needs-attention"
    /// The subject lives outside the service area and no agency takes such referrals: held, sent to
    /// no one, for the referrer to send to the right area (and on the attention list meanwhile).
    case outOfArea = "out-of-area"
    /// An agency sent it back with a question (insufficient information): the referrer answers by
    /// amending it.
    case returned
    /// At least one agency has taken it on.
    case accepted
    /// Every agency that took it on has done what was asked.
    case completed
    /// Closed by an administrator, or cancelled by its referrer.
    case closed

    /// - Parameter attention: an unresolved attention item is open for the referral.
    public static func derive(from states: [DeliveryState], attention: Bool = false) -> ReferralStatus {
        if attention || states.contains(.deadLettered) { return .needsAttention }
        if states.contains(.returned) { return .returned }
        let live = states.filter { $0 != .declined && $0 != .withdrawn }
        if live.isEmpty { return states.isEmpty ? .routed : .closed }
        if live.allSatisfy({ $0 == .completed }) { return .completed }
        if live.contains(where: { $0 == .accepted || $0 == .completed }) { return .accepted }
        if live.allSatisfy({ $0 == .delivered }) { return .delivered }
        return .routed
    }
}

/// One agency a referral is routed to, and the rule that sent it there.
public struct Route: Sendable, Codable, Equatable {
    public var agency: AgencyID
    public var rule: String
    public var deliveryId: DeliveryID

    public init(agency: AgencyID, rule: String, deliveryId: DeliveryID) {
        self.agency = agency
        self.rule = rule
        self.deliveryId = deliveryId
    }
}

/// What `POST /v1/referrals` answers once the referral is durable.
public struct SubmissionReceipt: Sendable, Codable, Equatable {
    public var id: ReferralID
    public var status: ReferralStatus
    public var routes: [Route]
    public var rulesVersion: String

    public init(id: ReferralID, status: ReferralStatus, routes: [Route], rulesVersion: String) {
        self.id = id
        self.status = status
        self.routes = routes
        self.rulesVersion = rulesVersion
    }
}

/// What `GET /v1/referrals/{id}` answers: where the referral went and what happened, without the
/// person's details.
public struct ReferralReport: Sendable, Codable, Equatable {
    public struct Delivery: Sendable, Codable, Equatable {
        public var deliveryId: DeliveryID
        public var agency: AgencyID
        public var rule: String
        public var state: DeliveryState
        public var attempts: Int
        public var lastError: String?
        public var nextAttemptAt: String?
        public var deliveredAt: String?
        /// When the agency accepted, declined or completed it (or it was withdrawn).
        public var answeredAt: String?
        public var declineReason: DeclineReason?
        /// When the agency must have taken it on.
        public var deadlineAt: String?
        /// For a notice about the referral (`referral.cancelled`) rather than the referral itself.
        public var notice: String?
        /// The agency's own reference for the referral (or, for a duplicate, for the case it already has).
        public var agencyReference: String?
        /// The agencies to try, in order, if this one declines: fixed when the referral was routed,
        /// so a later rules change does not alter them.
        public var alternatives: [AgencyID]

        public init(
            deliveryId: DeliveryID, agency: AgencyID, rule: String, state: DeliveryState, attempts: Int, lastError: String?,
            nextAttemptAt: String?, deliveredAt: String?, alternatives: [AgencyID] = []
        ) {
            self.alternatives = alternatives
            self.deliveryId = deliveryId
            self.agency = agency
            self.rule = rule
            self.state = state
            self.attempts = attempts
            self.lastError = lastError
            self.nextAttemptAt = nextAttemptAt
            self.deliveredAt = deliveredAt
        }
    }

    public struct HistoryEntry: Sendable, Codable, Equatable {
        public var at: String
        public var event: String
        public var agency: AgencyID?
        public var detail: String?

        public init(at: String, event: String, agency: AgencyID?, detail: String?) {
            self.at = at
            self.event = event
            self.agency = agency
            self.detail = detail
        }
    }

    public var id: ReferralID
    public var status: ReferralStatus
    public var receivedAt: String
    /// The id of the API key that submitted it.
    public var submittedBy: String
    public var rulesVersion: String
    public var urgency: Urgency
    public var needs: [String]
    public var deliveries: [Delivery]
    public var history: [HistoryEntry]
    /// Why it needs a person now, when it does.
    public var attention: AttentionItem?
    /// What people wrote about it: decline explanations, close and cancel reasons.
    public var notes: [ReferralNote]?

    public init(
        id: ReferralID, status: ReferralStatus, receivedAt: String, submittedBy: String, rulesVersion: String, urgency: Urgency, needs: [String],
        deliveries: [Delivery], history: [HistoryEntry]
    ) {
        self.id = id
        self.status = status
        self.receivedAt = receivedAt
        self.submittedBy = submittedBy
        self.rulesVersion = rulesVersion
        self.urgency = urgency
        self.needs = needs
        self.deliveries = deliveries
        self.history = history
    }
}

/// Something a person must look at: why, since when, and how it was resolved.
public struct AttentionItem: Sendable, Codable, Equatable {
    public var id: String
    public var referralId: ReferralID
    /// The delivery it arose from, if one.
    public var deliveryId: DeliveryID?
    public var agency: AgencyID?
    /// Why, in words with ids and codes only.
    public var reason: String
    public var since: String
    public var resolvedAt: String?
    public var resolvedBy: String?
    /// `rerouted to AGENCY`, or `closed` (the reason is a note on the referral).
    public var resolution: String?
    /// The referral's urgency: the list puts emergencies first. Nil for items opened before it was kept.
    public var urgency: Urgency?
    /// When a person must have acted, by the urgency's allowance from `since`. Nil for items opened
    /// before it was kept.
    public var dueAt: String?

    public init(
        id: String, referralId: ReferralID, deliveryId: DeliveryID?, agency: AgencyID?, reason: String, since: String, resolvedAt: String? = nil,
        resolvedBy: String? = nil, resolution: String? = nil, urgency: Urgency? = nil, dueAt: String? = nil
    ) {
        self.urgency = urgency
        self.dueAt = dueAt
        self.id = id
        self.referralId = referralId
        self.deliveryId = deliveryId
        self.agency = agency
        self.reason = reason
        self.since = since
        self.resolvedAt = resolvedAt
        self.resolvedBy = resolvedBy
        self.resolution = resolution
    }
}

/// Free text people write about a referral (a decline's explanation, a close reason): kept with
/// the referral, shown to those who may see it, and referenced by id, never copied, by the audit trail.
public struct ReferralNote: Sendable, Codable, Equatable {
    public var id: String
    public var deliveryId: DeliveryID?
    public var at: String
    public var author: String
    /// `declined`, `accepted`, `completed`, `close`, `cancel`, `returned` (an agency's question) or
    /// `answer` (the referrer's answer to it, kept with the delivery that asked).
    public var kind: String
    public var text: String

    public init(id: String, deliveryId: DeliveryID?, at: String, author: String, kind: String, text: String) {
        self.id = id
        self.deliveryId = deliveryId
        self.at = at
        self.author = author
        self.kind = kind
        self.text = text
    }
}

/// A message about a referral the delivery engine sends instead of the referral itself (a
/// cancellation or withdrawal to an agency that has it, an amendment's update, a state change to a
/// referrer's callback, an alert to the on-call system): signed, retried and dead-lettered like any
/// delivery. Only an update (`referral.updated`) carries the referral, through the agency's own adapter.
public struct ReferralNotice: Sendable, Equatable, Codable {
    /// `referral.cancelled`, `referral.accepted`, …
    public var type: String
    /// The delivery it is about (the `webhook-id` the agency received).
    public var about: String
    public var reason: String?
    /// The agency it concerns, in a callback to a referrer.
    public var agency: AgencyID?
    /// The referral's urgency, in an alert to the on-call system.
    public var urgency: Urgency?
    /// When a person must have acted, in an alert.
    public var due: String?

    public init(type: String, about: String, reason: String? = nil, agency: AgencyID? = nil, urgency: Urgency? = nil, due: String? = nil) {
        self.type = type
        self.about = about
        self.reason = reason
        self.agency = agency
        self.urgency = urgency
        self.due = due
    }
}
