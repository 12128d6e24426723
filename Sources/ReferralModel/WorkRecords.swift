import Foundation

/// A delivery on an agency's worklist.
public struct WorkItem: Sendable, Codable, Equatable {
    public var referralId: ReferralID
    public var deliveryId: DeliveryID
    public var state: DeliveryState
    public var urgency: Urgency
    public var receivedAt: String
    public var deliveredAt: String?
    public var respondBy: String?
    /// When the agency must have taken it on.
    public var deadlineAt: String?

    public init(
        referralId: ReferralID, deliveryId: DeliveryID, state: DeliveryState, urgency: Urgency, receivedAt: String, deliveredAt: String?,
        respondBy: String?
    ) {
        self.referralId = referralId
        self.deliveryId = deliveryId
        self.state = state
        self.urgency = urgency
        self.receivedAt = receivedAt
        self.deliveredAt = deliveredAt
        self.respondBy = respondBy
    }
}

/// Open attention items of one urgency, and how many of them are past their due time: what
/// `/metrics` reports for an on-call system to alert on.
public struct AttentionSummary: Sendable, Equatable {
    public var urgency: Urgency
    public var open: Int
    public var overdue: Int

    public init(urgency: Urgency, open: Int, overdue: Int) {
        self.urgency = urgency
        self.open = open
        self.overdue = overdue
    }
}

/// Which dead letters to replay: named ones, or an agency's (since a time).
public enum DeadLetterSelection: Sendable, Equatable {
    case deliveries([DeliveryID])
    case agency(AgencyID, since: Date?)
}
