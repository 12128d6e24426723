import Crypto
import Foundation
import ReferralModel

/// What happened, as the audit trail names it.
public enum AuditKind: String, Sendable, Codable, CaseIterable {
    case referralReceived = "referral.received"
    case referralValidated = "referral.validated"
    /// A referral that came as a FHIR message was mapped to referral v1: which codes became what.
    case referralMapped = "referral.mapped"
    case referralRouted = "referral.routed"
    /// An agency the rules chose was kept from the referral (no consent, not a safeguarding recipient).
    case referralWithheld = "referral.withheld"
    /// The subject lives outside the service area and no agency takes such referrals: held, sent to no one.
    case referralHeld = "referral.held"
    /// A valid referral was refused: its key may not submit for the organisation it names.
    case referralRefused = "referral.refused"
    case deliveryAttempted = "delivery.attempted"
    case deliveryDelivered = "delivery.delivered"
    case deliveryDeadLettered = "delivery.dead-lettered"
    /// An operator put dead-lettered deliveries back in the queue.
    case deliveryRequeued = "delivery.requeued"
    /// An agency's circuit opened after failures in a row: nothing is sent to it until a probe.
    case circuitOpened = "circuit.opened"
    /// An open circuit's rest is over: one delivery probes the agency.
    case circuitHalfOpen = "circuit.half-open"
    /// The agency answered again: deliveries flow.
    case circuitClosed = "circuit.closed"
    /// The dispatcher stopped delivering to an agency (410 Gone, or failing for days) until an operator resumes it.
    case agencyDisabled = "agency.disabled"
    /// An operator paused deliveries to an agency.
    case agencyPaused = "agency.paused"
    /// An operator resumed deliveries to an agency.
    case agencyResumed = "agency.resumed"
    /// An operator sent an agency a test delivery (no personal data).
    case agencyPinged = "agency.pinged"
    /// Someone read dead letters, which carry agencies' replies: who, and how many.
    case deadLettersRead = "dead-letters.read"
    case authRejected = "auth.rejected"
    case gatewayStarted = "gateway.started"
    /// A rules version went live: who, how, the versions before and after, what changed.
    case rulesApplied = "rules.applied"
    /// A rules file or request was refused; the live rules did not change.
    case rulesRejected = "rules.rejected"
    /// An administrator imported a postcode directory; it replaced the previous one whole.
    case directoryImported = "directory.imported"
    /// An agencies version went live: who, how, the versions before and after, what changed.
    case agenciesApplied = "agencies.applied"
    /// A change to the rules or agencies was proposed for a second administrator's approval.
    case changeProposed = "change.proposed"
    /// A second administrator approved a proposed change; it went live.
    case changeApproved = "change.approved"
    /// A proposed change was rejected or withdrawn.
    case changeRejected = "change.rejected"
    /// A proposed change can no longer apply: the document changed after it was made.
    case changeSuperseded = "change.superseded"
    /// An agency took a referral on.
    case referralAccepted = "referral.accepted"
    /// An agency declined a referral, with a reason code; its text is a note on the referral.
    case referralDeclined = "referral.declined"
    /// An agency finished what was asked.
    case referralCompleted = "referral.completed"
    /// The referral moved on to another agency: after a decline, a missed deadline, a dead letter,
    /// or an administrator's choice.
    case referralRerouted = "referral.rerouted"
    /// An agency key's answer was refused: not its referral, or not along the lifecycle.
    case answerRefused = "answer.refused"
    /// A delivery's acknowledgement deadline passed with nobody having taken it on.
    case deliveryOverdue = "delivery.overdue"
    /// The referral needs a person: why.
    case attentionOpened = "attention.opened"
    /// A person resolved it: re-routed or closed.
    case attentionResolved = "attention.resolved"
    /// Someone read a referral: who (the key), when, and as what role.
    case referralViewed = "referral.viewed"
    /// The personal data of closed referrals older than the retention period was removed.
    case referralsPruned = "referrals.pruned"
    /// The referrer cancelled the referral; every agency that had it is told.
    case referralCancelled = "referral.cancelled"
    /// An API key was made, revoked or given a new secret; or switchboard.yaml's keys were reloaded.
    case keyCreated = "key.created"
    case keyRevoked = "key.revoked"
    case keyRotated = "key.rotated"
    case keysReloaded = "keys.reloaded"
    /// A key's holder set or changed their console password (never recorded).
    case keyPasswordSet = "key.password-set"
    /// A person signed in to the web console.
    case consoleSignedIn = "console.signed-in"
    /// An emergency or urgent referral went to another agency instead of one whose people could not
    /// act now (paused, disabled, unreachable, closed): who, instead of whom, and why.
    case referralRedirected = "referral.redirected"
    /// A delivery was taken back because the referral moved on (a missed deadline, an agency that
    /// could not act, an administrator's re-route); the agency is told when it had it.
    case deliveryWithdrawn = "delivery.withdrawn"
    /// A decline that ends the referral for that service or agency: the person said no, or the
    /// agency already has them. Nothing is sent on.
    case referralClosedForService = "referral.closed-for-service"
    /// An agency sent the referral back to its referrer with a question (its text is a note).
    case referralReturned = "referral.returned"
    /// The referrer amended the referral; each agency that has it is sent the update.
    case referralAmended = "referral.amended"
    /// An agency's staff listed its inbox, which names the people referred: how many, by whom.
    case inboxViewed = "inbox.viewed"
    /// A subject access search: who searched, how, why (a case reference) and how many referrals it found.
    case recordsSearched = "records.searched"
    /// Erasure of a referral's personal data was asked for, and waits for a second person's approval
    /// (it has a safeguarding delivery still open).
    case erasureRequested = "erasure.requested"
    /// A referral's personal data was erased (its key destroyed); its ids, deliveries and audit trail stay.
    case referralErased = "referral.erased"
}

/// An event before it joins the chain. `detail` carries ids, codes and figures only: never a
/// name, NHS number, address or free text from a referral.
public struct AuditEntry: Sendable, Equatable {
    public var at: String
    public var kind: AuditKind
    public var actor: String?
    public var referralId: ReferralID?
    public var deliveryId: DeliveryID?
    public var agency: AgencyID?
    public var detail: String

    public init(
        at: String, kind: AuditKind, actor: String? = nil, referralId: ReferralID? = nil, deliveryId: DeliveryID? = nil,
        agency: AgencyID? = nil, detail: String
    ) {
        self.at = at
        self.kind = kind
        self.actor = actor
        self.referralId = referralId
        self.deliveryId = deliveryId
        self.agency = agency
        self.detail = detail
    }
}

/// An event in the append-only log: its place in the sequence, the hash of the event before it and
/// its own hash over both and its content.
public struct AuditEvent: Sendable, Equatable, Codable {
    public var sequence: Int64
    public var at: String
    public var kind: String
    public var actor: String?
    public var referralId: ReferralID?
    public var deliveryId: DeliveryID?
    public var agency: AgencyID?
    public var detail: String
    public var previousHash: String
    public var hash: String

    public init(
        sequence: Int64, at: String, kind: String, actor: String?, referralId: ReferralID?, deliveryId: DeliveryID?, agency: AgencyID?,
        detail: String, previousHash: String, hash: String
    ) {
        self.sequence = sequence
        self.at = at
        self.kind = kind
        self.actor = actor
        self.referralId = referralId
        self.deliveryId = deliveryId
        self.agency = agency
        self.detail = detail
        self.previousHash = previousHash
        self.hash = hash
    }
}

/// The SHA-256 hash chain that makes the audit log tamper-evident.
public enum AuditChain {
    /// The `previousHash` of the first event.
    public static let genesis = String(repeating: "0", count: 64)

    /// Seals `entry` as the event after the one whose hash is `previousHash`.
    public static func seal(_ entry: AuditEntry, sequence: Int64, previousHash: String) -> AuditEvent {
        var event = AuditEvent(
            sequence: sequence, at: entry.at, kind: entry.kind.rawValue, actor: entry.actor, referralId: entry.referralId,
            deliveryId: entry.deliveryId, agency: entry.agency, detail: entry.detail, previousHash: previousHash, hash: "")
        event.hash = hash(of: event)
        return event
    }

    /// The hash an event must carry: SHA-256 over its previous hash and every field, each field
    /// length-prefixed so no two different events share an input.
    public static func hash(of event: AuditEvent) -> String {
        let fields: [String?] = [
            event.previousHash, String(event.sequence), event.at, event.kind, event.actor, event.referralId?.rawValue,
            event.deliveryId?.rawValue, event.agency?.rawValue, event.detail,
        ]
        // One buffer hashed once: "length:bytes" for each field, "-:" for an absent one.
        var input: [UInt8] = []
        input.reserveCapacity(fields.reduce(64) { $0 + ($1?.utf8.count ?? 0) })
        for field in fields {
            if let field {
                input.append(contentsOf: String(field.utf8.count).utf8)
                input.append(UInt8(ascii: ":"))
                input.append(contentsOf: field.utf8)
            } else {
                input.append(contentsOf: "-:".utf8)
            }
        }
        return Hex.encode(SHA256.hash(data: input))
    }

    /// The outcome of checking a whole log.
    public enum Verdict: Sendable, Equatable {
        case intact(events: Int64, head: String)
        case broken(sequence: Int64, reason: String)
    }

    /// Checks a log read in sequence order: sequences contiguous from 1, each event pointing at the
    /// previous one's hash, and each hash matching its content. Names the first event that fails.
    public static func verify<Events: Sequence>(_ events: Events) -> Verdict where Events.Element == AuditEvent {
        var verifier = Verifier()
        for event in events {
            if let broken = verifier.check(event) { return broken }
        }
        return verifier.verdict
    }

    /// Checks a log one event at a time, so a log of any length is verified in constant memory.
    public struct Verifier: Sendable {
        private var expectedSequence: Int64 = 1
        private var previous = AuditChain.genesis
        /// Every run of missing sequences, first to last: checking goes on past a gap, so a restore
        /// that lost several stretches names each.
        private var missing: [ClosedRange<Int64>] = []

        public init() {}

        /// Checks the next event; returns the verdict when it breaks the chain (other than by a
        /// gap, which is named in `verdict` with every other), else nil.
        public mutating func check(_ event: AuditEvent) -> Verdict? {
            if event.sequence < expectedSequence {
                return .broken(
                    sequence: event.sequence, reason: "event \(event.sequence) is out of order or repeated (it comes after \(expectedSequence - 1))")
            }
            let afterGap = event.sequence > expectedSequence
            if afterGap { missing.append(expectedSequence...(event.sequence - 1)) }
            // After a gap the previous-hash names an event that is gone: the gap is what is reported.
            if !afterGap, event.previousHash != previous {
                return .broken(sequence: event.sequence, reason: "its previous-hash does not match event \(event.sequence - 1)")
            }
            if AuditChain.hash(of: event) != event.hash {
                return .broken(sequence: event.sequence, reason: "its content does not match its hash: it was edited")
            }
            previous = event.hash
            expectedSequence = event.sequence + 1
            return nil
        }

        /// The verdict on every event checked so far: intact, or every missing range.
        public var verdict: Verdict {
            guard let first = missing.first else { return .intact(events: expectedSequence - 1, head: previous) }
            let ranges = missing.map {
                $0.count == 1 ? "event \($0.lowerBound) is missing" : "events \($0.lowerBound) to \($0.upperBound) are missing"
            }
            return .broken(sequence: first.lowerBound, reason: ranges.joined(separator: "; "))
        }
    }
}
