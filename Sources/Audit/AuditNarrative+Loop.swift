import Foundation
import ReferralModel

/// The closed loop's sentences: ids, agency ids and codes only. Free text people write (a
/// decline's explanation, a close reason) is a note kept with the referral, named here by its id.
extension AuditNarrative {
    public static func referralAnswered(
        _ delivery: DeliveryReference, at: Date, actor: String, state: DeliveryState, reason: DeclineReason?, note: String?
    ) -> AuditEntry {
        let kind: AuditKind =
            switch state {
            case .declined: .referralDeclined
            case .completed: .referralCompleted
            default: .referralAccepted
            }
        var detail =
            switch state {
            case .declined: "declined (\(reason?.rawValue ?? DeclineReason.other.rawValue))"
            case .completed: "completed"
            default: "accepted"
            }
        if let note { detail += "; explanation in note \(note)" }
        return AuditEntry(
            at: Timestamp.string(at), kind: kind, actor: actor, referralId: delivery.referralId, deliveryId: delivery.deliveryId,
            agency: delivery.agency, detail: detail)
    }

    /// `why` is `declined by A`, `A missed its deadline`, `A could not be reached` or `by an administrator`.
    public static func referralRerouted(
        referralId: ReferralID, deliveryId: DeliveryID, at: Date, actor: String, from: AgencyID, to: AgencyID, why: String, rule: String,
        rulesVersion: String
    ) -> AuditEntry {
        AuditEntry(
            at: Timestamp.string(at), kind: .referralRerouted, actor: actor, referralId: referralId, deliveryId: deliveryId, agency: to,
            detail: "from \(from) to \(to) (\(why)); rule \(rule), rules version \(rulesVersion); consent and minimum necessary applied")
    }

    /// A delivery taken back because the referral moved on; `told` when the agency had it and is sent a notice.
    public static func deliveryWithdrawn(_ delivery: DeliveryReference, at: Date, actor: String, why: String, told: Bool) -> AuditEntry {
        AuditEntry(
            at: Timestamp.string(at), kind: .deliveryWithdrawn, actor: actor, referralId: delivery.referralId, deliveryId: delivery.deliveryId,
            agency: delivery.agency,
            detail: "withdrawn from \(delivery.agency) (\(why))"
                + (told ? "; the agency is sent referral.withdrawn" : "; it never reached the agency"))
    }

    /// A decline that sends the referral nowhere else.
    public static func referralClosedForService(_ delivery: DeliveryReference, at: Date, actor: String, reason: DeclineReason, needs: [String]?)
        -> AuditEntry
    {
        let why =
            reason == .personDeclined
            ? "the person declined the service" + (needs.map { " (\($0.joined(separator: ", ")))" } ?? "")
                + ": their details are sent nowhere else for it"
            : "\(delivery.agency) already has the person (duplicate): not sent on"
        return AuditEntry(
            at: Timestamp.string(at), kind: .referralClosedForService, actor: actor, referralId: delivery.referralId,
            deliveryId: delivery.deliveryId, agency: delivery.agency, detail: why)
    }

    public static func referralReturned(_ delivery: DeliveryReference, at: Date, actor: String, note: String) -> AuditEntry {
        AuditEntry(
            at: Timestamp.string(at), kind: .referralReturned, actor: actor, referralId: delivery.referralId, deliveryId: delivery.deliveryId,
            agency: delivery.agency,
            detail: "returned to the referrer by \(delivery.agency) for more information; its question is note \(note)")
    }

    /// The referrer amended the referral: the fields changed (their pointers, never their values), and who is sent the update.
    public static func referralAmended(
        referralId: ReferralID, at: Date, actor: String, fields: [String], updating: [AgencyID], note: String?, rectifying reason: String? = nil
    ) -> AuditEntry {
        AuditEntry(
            at: Timestamp.string(at), kind: .referralAmended, actor: actor, referralId: referralId,
            detail: (reason.map { "rectified ('\($0)')" } ?? "amended") + ": \(fields.joined(separator: ", "))"
                + (updating.isEmpty ? "; no agency had it yet" : "; the update goes to \(updating.joined(separator: ", "))")
                + (note.map { "; the referrer's answer is note \($0)" } ?? ""))
    }

    public static func inboxViewed(agency: AgencyID, at: Date, actor: String, count: Int) -> AuditEntry {
        AuditEntry(
            at: Timestamp.string(at), kind: .inboxViewed, actor: actor, agency: agency,
            detail: "listed \(count) referral\(count == 1 ? "" : "s") in the web inbox of \(agency), with name, age and needs")
    }

    public static func answerRefused(referralId: ReferralID, at: Date, actor: String, agency: AgencyID?, why: String) -> AuditEntry {
        AuditEntry(at: Timestamp.string(at), kind: .answerRefused, actor: actor, referralId: referralId, agency: agency, detail: why)
    }

    public static func deliveryOverdue(_ delivery: DeliveryReference, at: Date, deadline: Date?, state: DeliveryState) -> AuditEntry {
        AuditEntry(
            at: Timestamp.string(at), kind: .deliveryOverdue, actor: "deadlines", referralId: delivery.referralId,
            deliveryId: delivery.deliveryId, agency: delivery.agency,
            detail: state == .deadLettered
                ? "dead-lettered: it cannot reach the agency"
                : "not taken on by \(deadline.map(Timestamp.string) ?? "its deadline") (still \(state.rawValue))")
    }

    public static func attentionOpened(referralId: ReferralID, item: String, at: Date, actor: String, why: String) -> AuditEntry {
        AuditEntry(at: Timestamp.string(at), kind: .attentionOpened, actor: actor, referralId: referralId, detail: "item \(item): \(why)")
    }

    public static func attentionResolved(referralId: ReferralID, item: String, at: Date, actor: String, resolution: String) -> AuditEntry {
        AuditEntry(at: Timestamp.string(at), kind: .attentionResolved, actor: actor, referralId: referralId, detail: "item \(item) \(resolution)")
    }

    /// A read of a referral, by whom: reads of personal data are accountable too.
    public static func referralViewed(referralId: ReferralID, at: Date, actor: String, as view: String) -> AuditEntry {
        AuditEntry(at: Timestamp.string(at), kind: .referralViewed, actor: actor, referralId: referralId, detail: "read \(view)")
    }

    public static func referralsPruned(at: Date, actor: String, count: Int, before: Date) -> AuditEntry {
        AuditEntry(
            at: Timestamp.string(at), kind: .referralsPruned, actor: actor,
            detail:
                "\(count) closed referrals received before \(Timestamp.string(before)): personal data and notes removed; ids, deliveries and events kept"
        )
    }

    public static func referralCancelled(referralId: ReferralID, at: Date, actor: String, told: [AgencyID], withdrawn: Int, note: String?)
        -> AuditEntry
    {
        AuditEntry(
            at: Timestamp.string(at), kind: .referralCancelled, actor: actor, referralId: referralId,
            detail: "cancelled by the referrer; \(withdrawn) deliveries withdrawn; "
                + (told.isEmpty ? "no agency had it yet" : "telling \(told.joined(separator: ", "))") + (note.map { "; reason in note \($0)" } ?? ""))
    }
}
