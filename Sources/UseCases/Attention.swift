import Audit
import Foundation
import ReferralModel
import Routing
import Settings
import Storage

/// Where alerts for a person on call go: a lane of the delivery engine (Standard Webhooks, signed
/// and retried like any delivery), for the attention items of the urgencies named.
public struct Alerts: Sendable, Equatable {
    /// The lane's name in the queue and the audit trail.
    public static let lane: AgencyID = "alerts"
    public var urgencies: Set<Urgency>

    public init(urgencies: Set<Urgency> = [.emergency, .urgent]) { self.urgencies = urgencies }
}

/// Puts a referral in front of a person: one attention item per referral at a time, due by its
/// urgency's allowance (emergency 1 hour at any time, urgent 4 working hours, routine 2 working days,
/// or its `respondBy` when sooner), audited, and for an emergency or urgent one an alert to the
/// on-call system. Intake and the closed loop both open items here.
struct AttentionDesk: Sendable {
    let alerts: Alerts?

    struct Opened {
        var item: AttentionItem
        var deliveries: [NewDelivery]
        var audit: AuditEntry
    }

    func open(
        referralId: ReferralID, referral: Referral, delivery: LoopDelivery?, why: String, actor: String, at now: Date, rules: RuleSet
    ) -> Opened {
        let respondBy = referral.respondBy.flatMap { (AcknowledgementDeadline.parse($0) ?? .distantPast) > now ? $0 : nil }
        let due = AcknowledgementDeadline.due(
            urgency: referral.urgency, respondBy: respondBy, from: now, acknowledgement: Agency.Acknowledgement(),
            bankHolidays: rules.bankHolidays)
        let item = AttentionItem(
            id: Identifier.make(now: now), referralId: referralId, deliveryId: delivery?.deliveryId, agency: delivery?.agency, reason: why,
            since: Timestamp.string(now), urgency: referral.urgency, dueAt: Timestamp.string(due))
        var deliveries: [NewDelivery] = []
        if let alerts, alerts.urgencies.contains(referral.urgency) {
            deliveries.append(
                NewDelivery(
                    route: Route(agency: Alerts.lane, rule: "alert", deliveryId: DeliveryID.make(now: now.addingTimeInterval(0.0005))),
                    alternatives: [], needs: nil, deadlineAt: nil, parent: delivery?.deliveryId,
                    notice: ReferralNotice(
                        type: "attention.opened", about: item.id, reason: why, agency: delivery?.agency, urgency: referral.urgency,
                        due: item.dueAt)))
        }
        let audit = AuditNarrative.attentionOpened(
            referralId: referralId, item: item.id, at: now, actor: actor,
            why:
                "\(why) (\(referral.urgency.rawValue), due \(Timestamp.minute(due)))\(deliveries.isEmpty ? "" : "; alert sent to the on-call system")"
        )
        return Opened(item: item, deliveries: deliveries, audit: audit)
    }
}

/// What routing needs to know of the delivery engine's lanes now: which agencies are paused,
/// disabled or circuit-open, read from the store every gateway shares.
public protocol LaneConditionsSource: Sendable {
    func current() async -> LaneConditions
}

/// No lane is ever stopped: for tools that route without a delivery engine.
public struct NoLaneConditions: LaneConditionsSource {
    public init() {}
    public func current() async -> LaneConditions { .none }
}

/// The lane states the dispatchers store, as routing reads them.
public struct StoredLaneConditions: LaneConditionsSource {
    let queue: any DeliveryQueue
    let clock: any WallClock

    public init(queue: any DeliveryQueue, clock: any WallClock) {
        self.queue = queue
        self.clock = clock
    }

    /// A store that cannot be read stops nothing here: the referral is routed as if every lane ran,
    /// and its deadline still escalates it.
    public func current() async -> LaneConditions {
        guard let states = try? await queue.laneStates() else { return .none }
        return Self.conditions(states, now: clock.now())
    }

    public static func conditions(_ states: [AgencyLaneState], now: Date) -> LaneConditions {
        var stopped: [AgencyID: String] = [:]
        for state in states {
            if let paused = state.paused {
                stopped[state.agency] = "paused by \(paused.by)" + (paused.reason.isEmpty ? "" : " (\(paused.reason))")
            } else if let disabled = state.disabled {
                stopped[state.agency] = "disabled: \(disabled.reason)"
            } else if state.circuit == .open {
                stopped[state.agency] = "unreachable (circuit open" + (state.reopensAt.map { " until \(Timestamp.minute($0))" } ?? "") + ")"
            } else if state.circuit == .halfOpen {
                stopped[state.agency] = "unreachable (circuit half-open, probing)"
            }
        }
        return LaneConditions(stopped: stopped)
    }
}
