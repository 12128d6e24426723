import Audit
import Foundation
import ReferralModel
import Routing
import Settings
import Storage

/// Deadlines, dead letters and lanes that cannot act: what moves a referral on without anyone asking.
extension ReferralLoop {
    /// Escalates every delivery due at the clock's now: past its deadline with nobody having taken
    /// it on (or returned to its referrer, unanswered), or dead-lettered. Each escalates once:
    /// re-routed to the next candidate (unless its agency says `when_missed: attention`), the
    /// delivery it leaves withdrawn and its agency told, and onto the attention list when nothing
    /// is left or it was dead-lettered (a person must know a connection is broken). Then every
    /// emergency or urgent delivery still waiting on an agency whose lane is stopped moves on.
    /// - Returns: how many escalated.
    @discardableResult
    public func escalateDue(limit: Int = 200) async throws -> Int {
        let now = clock.now()
        let lanes = await self.lanes.current()
        var escalated = 0
        for due in try await store.dueEscalations(now: now, limit: limit) {
            guard let loop = try await store.loopReferral(due.referralId),
                let delivery = loop.deliveries.first(where: { $0.deliveryId == due.deliveryId })
            else { continue }
            var change = LoopChange(referralId: due.referralId, at: now)
            change.escalated = [due.deliveryId]
            let reference = AuditNarrative.DeliveryReference(referralId: due.referralId, deliveryId: due.deliveryId, agency: due.agency)
            change.audit.append(AuditNarrative.deliveryOverdue(reference, at: now, deadline: due.deadlineAt, state: due.state))
            let dead = due.state == .deadLettered
            let why =
                dead
                ? "\(due.agency) could not be reached (dead-lettered)"
                : due.state == .returned
                    ? "\(due.agency) returned it for more information, unanswered by its deadline" : "\(due.agency) missed its deadline"
            var next: AgencyID?
            if due.agency.rawValue.hasPrefix("callback:") || due.agency == Alerts.lane {
                // The referrer's own system, or the on-call system, could not be told; the queue view shows the dead letter.
            } else if delivery.notice != nil {
                // A notice cannot be re-routed: a person must tell the agency another way.
                openAttention(
                    loop, delivery: delivery, why: "\(due.agency) could not be told: \(delivery.notice?.type ?? "notice") dead-lettered",
                    actor: "deadlines", into: &change)
            } else if due.state == .returned || rules.current.agencies[due.agency]?.acknowledgement.whenMissed == .attention {
                openAttention(loop, delivery: delivery, why: why, actor: "deadlines", into: &change)
            } else {
                next = moveOn(loop, from: delivery, why: why, actor: "deadlines", lanes: lanes, into: &change)
                if let next {
                    withdraw(
                        delivery, loop: loop, why: "\(why); re-routed to \(next)", code: dead ? "undeliverable" : "deadline-missed",
                        actor: "deadlines", into: &change)
                    if dead { openAttention(loop, delivery: delivery, why: "\(why); re-routed to \(next)", actor: "deadlines", into: &change) }
                }
            }
            if try await store.applyLoopChange(change) {
                escalated += 1
                if next != nil || !change.added.isEmpty { onRerouted() }
            }
        }
        return escalated + (try await moveWaitingUrgent(lanes: lanes, now: now, limit: limit))
    }

    /// Moves each emergency or urgent delivery still waiting on an agency whose lane is stopped
    /// (paused, disabled, unreachable) on to the next candidate that can act, withdrawing it; when
    /// none can, a person is told and it waits. Each such delivery is looked at once.
    private func moveWaitingUrgent(lanes: LaneConditions, now: Date, limit: Int) async throws -> Int {
        guard !lanes.stopped.isEmpty else { return 0 }
        var moved = 0
        for waiting in try await store.waitingUrgentDeliveries(agencies: lanes.stopped.keys.sorted(), limit: limit) {
            guard let loop = try await store.loopReferral(waiting.referralId),
                let delivery = loop.deliveries.first(where: { $0.deliveryId == waiting.deliveryId && $0.state == .pending })
            else { continue }
            var change = LoopChange(referralId: waiting.referralId, at: now)
            change.escalated = [delivery.deliveryId]
            let why = "\(delivery.agency) \(lanes.stopped[delivery.agency] ?? "cannot act now")"
            if let next = moveOn(loop, from: delivery, why: why, actor: "deadlines", lanes: lanes, into: &change) {
                withdraw(delivery, loop: loop, why: "\(why); re-routed to \(next)", code: "agency-unavailable", actor: "deadlines", into: &change)
            }
            if try await store.applyLoopChange(change) {
                moved += 1
                onRerouted()
            }
        }
        return moved
    }
}
