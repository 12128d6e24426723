import Foundation
import ReferralModel

/// The one place that words audit events: every kind the trail records and the sentence it
/// carries. Sentences hold ids, codes, counts and figures, never a name, NHS number, address or
/// free text from a referral, so the trail can be read and exported without exposing anyone.
public enum AuditNarrative {
    /// The delivery an event is about.
    public struct DeliveryReference: Sendable, Equatable {
        public var referralId: ReferralID
        public var deliveryId: DeliveryID
        public var agency: AgencyID

        public init(referralId: ReferralID, deliveryId: DeliveryID, agency: AgencyID) {
            self.referralId = referralId
            self.deliveryId = deliveryId
            self.agency = agency
        }
    }

    /// How one delivery attempt ended, as its `delivery.attempted` event tells it.
    public enum AttemptEnding: Sendable, Equatable {
        case delivered
        case willRetry(reason: String, nextAttempt: Date)
        case failed(reason: String)
    }

    // MARK: Referrals

    public static func referralReceived(referralId: ReferralID, actor: String, at: Date, organisation: String, bytes: Int) -> AuditEntry {
        AuditEntry(
            at: Timestamp.string(at), kind: .referralReceived, actor: actor, referralId: referralId,
            detail: "from \(organisation); \(bytes) bytes")
    }

    /// - Parameter lawfulBasis: the basis recorded for sharing without consent, when there is one.
    /// - Parameter decidedAt: when the decision to share without consent was made, as recorded.
    public static func referralValidated(
        referralId: ReferralID, actor: String, at: Date, lawfulBasis: String? = nil, decidedAt: String? = nil
    ) -> AuditEntry {
        // The decision-maker is a person's name: the trail points to where it is recorded, never copies it.
        let basis =
            lawfulBasis.map {
                "; shared without consent on the lawful basis \($0), decided by the decision-maker recorded with the referral"
                    + (decidedAt.map { " at \($0)" } ?? "")
            } ?? ""
        return AuditEntry(
            at: Timestamp.string(at), kind: .referralValidated, actor: actor, referralId: referralId, detail: "valid against referral v1" + basis)
    }

    public static func referralRouted(
        referralId: ReferralID, actor: String, at: Date, rulesVersion: String, matchedRules: [String], usedFallback: Bool, to routes: [RoutingTarget]
    ) -> AuditEntry {
        let matched = usedFallback ? "no rule matched; fallback" : "rules " + matchedRules.joined(separator: ", ")
        let targets = routes.map { route in
            let then = route.alternatives.isEmpty ? "" : "; if it declines: " + route.alternatives.map(\.rawValue).joined(separator: ", ")
            return "\(route.agency) (\(route.rule)\(then))"
        }
        return AuditEntry(
            at: Timestamp.string(at), kind: .referralRouted, actor: actor, referralId: referralId,
            detail: "rules version \(rulesVersion); \(matched); to " + targets.joined(separator: ", "))
    }

    /// The rules chose `agency`, but it may not receive this referral.
    /// - Parameter sharedWith: for a share without consent, who it may go to instead; nil for another reason (age).
    public static func referralWithheld(
        referralId: ReferralID, actor: String, at: Date, agency: AgencyID, rule: String, reason: String,
        sharedWith: String? = "safeguarding recipients"
    ) -> AuditEntry {
        AuditEntry(
            at: Timestamp.string(at), kind: .referralWithheld, actor: actor, referralId: referralId, agency: agency,
            detail: "withheld from \(agency) (rule \(rule)): \(reason)" + (sharedWith.map { "; shared only with \($0)" } ?? ""))
    }

    /// An emergency or urgent referral went to `to` because `from`'s people could not act now.
    public static func referralRedirected(
        referralId: ReferralID, deliveryId: DeliveryID?, actor: String, at: Date, from: AgencyID, to: AgencyID, rule: String, why: String
    ) -> AuditEntry {
        AuditEntry(
            at: Timestamp.string(at), kind: .referralRedirected, actor: actor, referralId: referralId, deliveryId: deliveryId, agency: to,
            detail: "\(why): sent to \(to) instead of \(from) (rule \(rule))")
    }

    /// A key submitted a referral naming an organisation it may not submit for. Nothing was stored.
    /// A referral from outside the service area, held. The postcode is not quoted: it is personal data.
    public static func referralHeld(referralId: ReferralID, actor: String, at: Date, rulesVersion: String) -> AuditEntry {
        AuditEntry(
            at: Timestamp.string(at), kind: .referralHeld, actor: actor, referralId: referralId,
            detail:
                "rules version \(rulesVersion); the subject's postcode is outside the service area and no agency takes referrals from elsewhere: held, sent to no one"
        )
    }

    /// A referral that came in another format (a BaRS FHIR message): what it was, and which codes
    /// became which needs and urgency. Codes and the gateway's own terms only, never the message's text.
    public static func referralMapped(referralId: ReferralID, actor: String, at: Date, mapping: String) -> AuditEntry {
        AuditEntry(at: Timestamp.string(at), kind: .referralMapped, actor: actor, referralId: referralId, detail: mapping)
    }

    /// A signed request (Standard Webhooks) from a key that must sign was refused: why, never its body.
    public static func signatureRefused(keyId: String, at: Date, why: String) -> AuditEntry {
        AuditEntry(at: Timestamp.string(at), kind: .authRejected, actor: keyId, detail: "signed request refused: \(why)")
    }

    public static func referralRefused(actor: String, at: Date, claimedOrganisation: String, allowed: [String]) -> AuditEntry {
        AuditEntry(
            at: Timestamp.string(at), kind: .referralRefused, actor: actor,
            detail: "the key may not submit for organisation \(claimedOrganisation); it may for \(allowed.sorted().joined(separator: ", "))")
    }

    // MARK: Deliveries

    public static func deliveryAttempted(
        _ delivery: DeliveryReference, at: Date, attempt: Int, of maxAttempts: Int, ending: AttemptEnding, milliseconds: Int,
        fieldsSent: [String]
    ) -> AuditEntry {
        let outcome =
            switch ending {
            case .delivered: "delivered in \(milliseconds) ms"
            case .willRetry(let reason, let next): "\(reason) after \(milliseconds) ms; next attempt at \(Timestamp.string(next))"
            case .failed(let reason): "\(reason) after \(milliseconds) ms"
            }
        return entry(
            delivery, at, .deliveryAttempted,
            "attempt \(attempt) of \(maxAttempts): \(outcome); fields sent: " + fieldsSent.joined(separator: ", "))
    }

    /// - Parameter referenceLength: the length of the agency's own reference, when it gave one.
    public static func deliveryDelivered(_ delivery: DeliveryReference, at: Date, referenceLength: Int?) -> AuditEntry {
        entry(delivery, at, .deliveryDelivered, referenceLength.map { "agency reference recorded (\($0) characters)" } ?? "delivered")
    }

    public static func deliveryDeadLettered(_ delivery: DeliveryReference, at: Date, reason: String) -> AuditEntry {
        entry(delivery, at, .deliveryDeadLettered, reason)
    }

    /// An operator put a dead letter back in the queue.
    public static func deliveryRequeued(_ delivery: DeliveryReference, at: Date, by actor: String, attempts: Int) -> AuditEntry {
        AuditEntry(
            at: Timestamp.string(at), kind: .deliveryRequeued, actor: actor, referralId: delivery.referralId,
            deliveryId: delivery.deliveryId, agency: delivery.agency,
            detail: "dead letter put back in the queue after \(attempts) attempts; due now with its attempts reset")
    }

    // MARK: Agencies' lanes

    /// - Parameter why: what opened it, for example "5 failed attempts in a row" or "12 of the last 20 attempts failed".
    public static func circuitOpened(agency: AgencyID, at: Date, why: String, reason: String, until: Date) -> AuditEntry {
        AuditEntry(
            at: Timestamp.string(at), kind: .circuitOpened, actor: "dispatcher", agency: agency,
            detail:
                "\(why), the last \(reason); nothing is sent until a probe at \(Timestamp.string(until)); jobs wait without using attempts"
        )
    }

    public static func circuitHalfOpen(agency: AgencyID, at: Date) -> AuditEntry {
        AuditEntry(at: Timestamp.string(at), kind: .circuitHalfOpen, actor: "dispatcher", agency: agency, detail: "one delivery probes the agency")
    }

    public static func circuitClosed(agency: AgencyID, at: Date) -> AuditEntry {
        AuditEntry(
            at: Timestamp.string(at), kind: .circuitClosed, actor: "dispatcher", agency: agency, detail: "the agency answered; deliveries flow again")
    }

    public static func agencyDisabled(agency: AgencyID, at: Date, reason: String) -> AuditEntry {
        AuditEntry(
            at: Timestamp.string(at), kind: .agencyDisabled, actor: "dispatcher", agency: agency,
            detail: "\(reason); its jobs stay queued until an operator resumes the agency")
    }

    /// An operator's pause. `reason` is the operator's own words about a planned outage: they are
    /// told not to put personal data in it, and it is cut to 200 characters.
    public static func agencyPaused(agency: AgencyID, at: Date, by actor: String, reason: String?) -> AuditEntry {
        AuditEntry(
            at: Timestamp.string(at), kind: .agencyPaused, actor: actor, agency: agency,
            detail: "deliveries paused" + (reason.map { ": \(String($0.prefix(200)))" } ?? ""))
    }

    public static func agencyPinged(agency: AgencyID, at: Date, by actor: String, outcome: String, status: Int?, milliseconds: Int) -> AuditEntry {
        AuditEntry(
            at: Timestamp.string(at), kind: .agencyPinged, actor: actor, agency: agency,
            detail: "test delivery (no personal data) \(outcome)" + (status.map { " with HTTP \($0)" } ?? ", no answer") + " in \(milliseconds) ms")
    }

    /// Dead letters read, with agencies' replies: who read how many, of which agency; never what they say.
    public static func deadLettersRead(at: Date, by actor: String, agency: AgencyID?, count: Int) -> AuditEntry {
        AuditEntry(
            at: Timestamp.string(at), kind: .deadLettersRead, actor: actor, agency: agency,
            detail: "\(count) dead letter\(count == 1 ? "" : "s") read with the agencies' replies" + (agency == nil ? ", every agency" : ""))
    }

    public static func agencyResumed(agency: AgencyID, at: Date, by actor: String, was: String) -> AuditEntry {
        AuditEntry(
            at: Timestamp.string(at), kind: .agencyResumed, actor: actor, agency: agency, detail: "deliveries resumed (it was \(was)); circuit closed"
        )
    }

    private static func entry(_ delivery: DeliveryReference, _ at: Date, _ kind: AuditKind, _ detail: String) -> AuditEntry {
        AuditEntry(
            at: Timestamp.string(at), kind: kind, actor: "dispatcher", referralId: delivery.referralId, deliveryId: delivery.deliveryId,
            agency: delivery.agency, detail: detail)
    }

    // MARK: The gateway

    /// Requests refused before any work, counted per client address and minute: one event however
    /// many arrived, so a flood of bad keys costs a bounded number of rows. It names the address, the
    /// minute and the reasons; never a path, a query or anything a key holder sent.
    /// - Parameters:
    ///   - minuteStart: the start of the minute counted.
    ///   - reasons: how many requests were refused for each reason.
    ///   - limited: how many of them were answered 429 because the address was over its allowance.
    public static func authenticationRefused(at: Date, source: String, minuteStart: Date, reasons: [String: Int], limited: Int) -> AuditEntry {
        let total = reasons.values.reduce(0, +)
        let minute = Timestamp.string(minuteStart).prefix(16)
        let causes = reasons.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        let limitedText = limited == 0 ? "" : "; \(limited) answered 429 because the address was over its allowance of refusals"
        return AuditEntry(
            at: Timestamp.string(at), kind: .authRejected,
            detail: "\(total) request\(total == 1 ? "" : "s") from \(source) refused in the minute from \(minute) UTC: \(causes)\(limitedText)")
    }

    public static func gatewayStarted(at: Date, rulesVersion: String, agencies: Int) -> AuditEntry {
        AuditEntry(
            at: Timestamp.string(at), kind: .gatewayStarted, actor: "gateway", detail: "rules version \(rulesVersion); \(agencies) agencies")
    }

    // MARK: Rules

    /// A rules version went live. `summary` names rules by id only; `textDigest` ties the stored
    /// text to the chain.
    public static func rulesApplied(
        at: Date, actor: String, number: Int, version: String, replacing previous: String, note: String, ruleCount: Int,
        fallback: String, summary: String, textDigest: String
    ) -> AuditEntry {
        AuditEntry(
            at: Timestamp.string(at), kind: .rulesApplied, actor: actor,
            detail:
                "version \(number) (\(version)) replaces \(previous); \(note); \(ruleCount) rules, fallback \(fallback); \(summary); text sha256 \(textDigest)"
        )
    }

    /// A rules file was refused; `firstProblem` is `file:line:column: message` of the first one.
    public static func rulesRejected(
        at: Date, file: String, trigger: String, problems: Int, firstProblem: String?, liveVersion: String
    ) -> AuditEntry {
        let first = firstProblem.map { "; first: \($0)" } ?? ""
        return AuditEntry(
            at: Timestamp.string(at), kind: .rulesRejected, actor: "rules-file",
            detail: "\(file) (\(trigger)) refused with \(problems) problem\(problems == 1 ? "" : "s")\(first); version \(liveVersion) stays live")
    }
}

extension AuditNarrative {
    /// A subject access search: who, by what (never the value searched for), why, and what it found.
    public static func recordsSearched(at: Date, by actor: String, searchedBy: String, reason: String, found: Int) -> AuditEntry {
        AuditEntry(
            at: Timestamp.string(at), kind: .recordsSearched, actor: actor,
            detail: "subject access search by \(searchedBy) for '\(reason)': \(found) referral\(found == 1 ? "" : "s") found")
    }
}

extension AuditNarrative {
    /// Erasure asked for, waiting for a second person: who asked, and why (a case reference).
    public static func erasureRequested(referralId: ReferralID, at: Date, by actor: String, reason: String, safeguarding: [AgencyID]) -> AuditEntry {
        AuditEntry(
            at: Timestamp.string(at), kind: .erasureRequested, actor: actor, referralId: referralId,
            detail:
                "erasure asked for ('\(reason)'); safeguarding still open with \(safeguarding.map(\.rawValue).joined(separator: ", ")): a second person must approve"
        )
    }

    /// Personal data erased: by whom, approved by whom, why, and the deliveries withdrawn.
    public static func referralErased(
        referralId: ReferralID, at: Date, by actor: String, reason: String, approvedBy requester: String?, withdrawn: Int
    ) -> AuditEntry {
        AuditEntry(
            at: Timestamp.string(at), kind: .referralErased, actor: actor, referralId: referralId,
            detail: "personal data erased ('\(reason)')" + (requester.map { "; asked for by \($0), approved by \(actor)" } ?? "")
                + "; \(withdrawn) deliver\(withdrawn == 1 ? "y" : "ies") not yet made withdrawn")
    }
}
