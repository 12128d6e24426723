/// Where one delivery of a referral to one agency stands.
public enum DeliveryState: String, Sendable, Codable, CaseIterable {
    /// Waiting for its next attempt (first, or after a retryable failure).
    case pending
    /// The agency's endpoint answered with success.
    case delivered
    /// Will not be tried again without an administrator: a permanent failure or attempts exhausted.
    case deadLettered = "dead-lettered"
}

/// Where a referral stands as a whole, derived from its deliveries.
public enum ReferralStatus: String, Sendable, Codable, CaseIterable {
    /// Routed; at least one delivery has not yet arrived.
    case routed
    /// Every target agency has it.
    case delivered
    /// At least one delivery is dead-lettered: an administrator must act.
    case needsAttention = "needs-attention"
    /// The subject lives outside the service area and no agency takes such referrals: held, sent to
    /// no one, for the referrer to send to the right area.
    case outOfArea = "out-of-area"

    public static func derive(from states: [DeliveryState]) -> ReferralStatus {
        if states.contains(.deadLettered) { return .needsAttention }
        if !states.isEmpty, states.allSatisfy({ $0 == .delivered }) { return .delivered }
        return .routed
    }
}

/// One agency a referral is routed to, and the rule that sent it there.
public struct Route: Sendable, Codable, Equatable {
    public var agency: String
    public var rule: String
    public var deliveryId: String

    public init(agency: String, rule: String, deliveryId: String) {
        self.agency = agency
        self.rule = rule
        self.deliveryId = deliveryId
    }
}

/// What `POST /v1/referrals` answers once the referral is durable.
public struct SubmissionReceipt: Sendable, Codable, Equatable {
    public var id: String
    public var status: ReferralStatus
    public var routes: [Route]
    public var rulesVersion: String

    public init(id: String, status: ReferralStatus, routes: [Route], rulesVersion: String) {
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
        public var deliveryId: String
        public var agency: String
        public var rule: String
        public var state: DeliveryState
        public var attempts: Int
        public var lastError: String?
        public var nextAttemptAt: String?
        public var deliveredAt: String?
        /// The agencies to try, in order, if this one declines: fixed when the referral was routed,
        /// so a later rules change does not alter them.
        public var alternatives: [String]

        public init(
            deliveryId: String, agency: String, rule: String, state: DeliveryState, attempts: Int, lastError: String?,
            nextAttemptAt: String?, deliveredAt: String?, alternatives: [String] = []
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
        public var agency: String?
        public var detail: String?

        public init(at: String, event: String, agency: String?, detail: String?) {
            self.at = at
            self.event = event
            self.agency = agency
            self.detail = detail
        }
    }

    public var id: String
    public var status: ReferralStatus
    public var receivedAt: String
    /// The id of the API key that submitted it.
    public var submittedBy: String
    public var rulesVersion: String
    public var urgency: Urgency
    public var needs: [String]
    public var deliveries: [Delivery]
    public var history: [HistoryEntry]

    public init(
        id: String, status: ReferralStatus, receivedAt: String, submittedBy: String, rulesVersion: String, urgency: Urgency, needs: [String],
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
