import Audit
import Crypto
import Foundation
import ReferralModel
import Routing
import Settings
import Storage

/// Submitting a referral and reading where it went: the operations the HTTP API, the command line
/// and the tests all call. A referral is decoded strictly, routed by one snapshot of the live
/// rules, and stored with its delivery jobs and audit events in one transaction before anyone is
/// told it was accepted.
public struct ReferralIntake: Sendable {
    /// Why a referral was not accepted. Nothing was stored.
    public enum Refusal: Error, Sendable, Equatable {
        /// Not JSON at all.
        case malformed(String)
        /// JSON that breaks the schema or a domain rule: every problem, each with its pointer.
        case invalid([FieldIssue])
        /// The idempotency key was used before with a different body.
        case idempotencyConflict
        /// The referral names a referring organisation the key may not submit for.
        case organisationNotAllowed(claimed: String, allowed: [String])
    }

    /// What came of a submission that was not refused.
    public struct Accepted: Sendable, Equatable {
        public var receipt: SubmissionReceipt
        /// True when this is the answer to an earlier submission with the same idempotency key.
        public var replayed: Bool
    }

    private let decoder: ReferralDecoder
    private let rules: LiveRules
    private let store: any ReferralStore & AuditLog & PostcodeDirectoryStore & ReferralLoopStore
    private let clock: any WallClock
    private let lanes: any LaneConditionsSource
    private let desk: AttentionDesk
    private let onAccepted: @Sendable () -> Void
    private let metrics: IntakeMetrics

    /// - Parameter lanes: which agencies' lanes are stopped now, for emergency and urgent referrals.
    /// - Parameter alerts: where attention items of some urgencies raise an alert; nil for none.
    /// - Parameter onAccepted: called after each new referral is durable (the dispatcher's doorbell).
    public init(
        decoder: ReferralDecoder, rules: LiveRules, store: any ReferralStore & AuditLog & PostcodeDirectoryStore & ReferralLoopStore,
        clock: any WallClock = SystemClock(), lanes: any LaneConditionsSource = NoLaneConditions(), alerts: Alerts? = nil,
        metrics: IntakeMetrics = IntakeMetrics(factory: nil), onAccepted: @escaping @Sendable () -> Void = {}
    ) {
        self.metrics = metrics
        self.decoder = decoder
        self.rules = rules
        self.store = store
        self.clock = clock
        self.lanes = lanes
        desk = AttentionDesk(alerts: alerts)
        self.onAccepted = onAccepted
    }

    /// Decodes, routes and stores a referral.
    /// - Parameters:
    ///   - body: the referral as UTF-8 JSON.
    ///   - actor: the id of the API key submitting it.
    ///   - organisations: the ODS codes the key may submit for; nil when it may name any.
    ///   - idempotencyKey: the referrer's key for safe retries, if it gave one.
    public func submit<Body: Collection>(
        _ body: Body, actor: String, organisations: Set<String>? = nil, idempotencyKey: String?, requestId: String? = nil
    ) async throws -> Accepted where Body.Element == UInt8 {
        try await counted {
            try await decodeAndAdmit(body, actor: actor, organisations: organisations, idempotencyKey: idempotencyKey, requestId: requestId)
        }
    }

    private func decodeAndAdmit<Body: Collection>(
        _ body: Body, actor: String, organisations: Set<String>?, idempotencyKey: String?, requestId: String?
    ) async throws -> Accepted where Body.Element == UInt8 {
        let receivedAt = clock.now()
        let referral: Referral
        do {
            referral = try decoder.decode(body, at: receivedAt)
        } catch .syntax(let error) {
            throw Refusal.malformed(error.description)
        } catch .invalid(let failure) {
            throw Refusal.invalid(failure.issues)
        }
        let claim = idempotencyKey.map { IdempotencyClaim(key: $0, bodyDigest: Hex.encode(SHA256.hash(data: Array(body)))) }
        return try await admit(
            referral, bytes: body.count, actor: actor, organisations: organisations, claim: claim, requestId: requestId, receivedAt: receivedAt)
    }

    /// Validates, routes and stores a referral another format was mapped to (a FHIR message), as
    /// `submit` does a JSON one: the decoder's problems come back by JSON Pointer, for the caller to
    /// name where in its own format each came from.
    /// - Parameters:
    ///   - bytes: the size of the message received, for the audit trail.
    ///   - idempotencyKey: the key that names the sender's request across its messages; the mapped
    ///     document's digest decides whether a second message with it is the same one again.
    ///   - mapping: what was mapped, in words with codes only, audited with the referral.
    public func submit(
        document: JSONValue, bytes: Int, actor: String, organisations: Set<String>?, idempotencyKey: String, requestId: String?, mapping: String,
        original: OriginalMessage? = nil
    ) async throws -> Accepted {
        try await counted {
            try await mapAndAdmit(
                document: document, bytes: bytes, actor: actor, organisations: organisations, idempotencyKey: idempotencyKey, requestId: requestId,
                mapping: mapping, original: original)
        }
    }

    private func mapAndAdmit(
        document: JSONValue, bytes: Int, actor: String, organisations: Set<String>?, idempotencyKey: String, requestId: String?, mapping: String,
        original: OriginalMessage?
    ) async throws -> Accepted {
        let receivedAt = clock.now()
        let referral: Referral
        do {
            referral = try decoder.decode(document, today: CalendarDate.string(from: receivedAt), now: receivedAt)
        } catch .syntax(let error) {
            throw Refusal.malformed(error.description)
        } catch .invalid(let failure) {
            throw Refusal.invalid(failure.issues)
        }
        let claim = IdempotencyClaim(key: idempotencyKey, bodyDigest: Hex.encode(SHA256.hash(data: Array(referral.canonicalJSON()))))
        return try await admit(
            referral, bytes: bytes, actor: actor, organisations: organisations, claim: claim, requestId: requestId, receivedAt: receivedAt,
            mapping: mapping, original: original)
    }

    /// Counts what came of a submission, whichever door it came through.
    private func counted(_ work: () async throws -> Accepted) async throws -> Accepted {
        do {
            let accepted = try await work()
            metrics.received()
            if !accepted.replayed { metrics.routed(rules: accepted.receipt.routes.map(\.rule)) }
            return accepted
        } catch {
            metrics.rejected(IntakeMetrics.Rejection(error))
            throw error
        }
    }

    /// Counts a submission a door turned away before it reached intake (no key, too large, the
    /// wrong media type, too many requests).
    public func refused(_ reason: IntakeMetrics.Rejection) {
        metrics.rejected(reason)
    }

    private func admit(
        _ referral: Referral, bytes: Int, actor: String, organisations: Set<String>?, claim: IdempotencyClaim?, requestId: String?,
        receivedAt: Date, mapping: String? = nil, original: OriginalMessage? = nil
    ) async throws -> Accepted {
        // The organisation is the referrer's own claim: a key bound to organisations proves it.
        if let organisations, !organisations.contains(referral.referrer.organisation) {
            try await store.appendAudit([
                AuditNarrative.referralRefused(
                    actor: actor, at: receivedAt, claimedOrganisation: referral.referrer.organisation, allowed: Array(organisations))
            ])
            throw Refusal.organisationNotAllowed(claimed: referral.referrer.organisation, allowed: organisations.sorted())
        }
        // One snapshot of the rules routes the referral, and is the version its receipt names.
        let rules = self.rules.current.rules
        let authorities = rules.namesLocalAuthorities ? try await store.localAuthorities(of: referral.subject.postcode) : []
        // Only an emergency or urgent referral is routed around a lane that cannot act; a routine one waits for it.
        let lanes = RuleSet.cannotWait(referral.urgency) ? await self.lanes.current() : .none
        var record = intakeRecord(
            referral, rules: rules, localAuthorities: authorities, lanes: lanes, bytes: bytes, actor: actor, receivedAt: receivedAt,
            claim: claim)
        if let mapping {
            record.audit.insert(
                AuditNarrative.referralMapped(referralId: record.referralId, actor: actor, at: receivedAt, mapping: mapping), at: 1)
        }
        record.requestId = requestId
        record.original = original
        switch try await store.accept(record) {
        case .accepted(let receipt):
            onAccepted()
            return Accepted(receipt: receipt, replayed: false)
        case .replayed(let receipt):
            return Accepted(receipt: receipt, replayed: true)
        case .idempotencyConflict:
            throw Refusal.idempotencyConflict
        }
    }

    /// Routes a decoded referral by one snapshot of the live rules and words its audit events.
    private func intakeRecord(
        _ referral: Referral, rules: RuleSet, localAuthorities: Set<String>, lanes: LaneConditions, bytes: Int, actor: String, receivedAt: Date,
        claim: IdempotencyClaim?
    ) -> IntakeRecord {
        let decision = rules.route(referral, at: receivedAt, localAuthorities: localAuthorities, lanes: lanes)
        let referralId = ReferralID.make(now: receivedAt)
        var deliveries = decision.targets.map { target in
            NewDelivery(
                deliveryId: DeliveryID.make(now: receivedAt), target: target,
                deadlineAt: ReferralLoop.deadline(for: referral, agency: target.agency, from: receivedAt, rules: rules))
        }
        var audit = [
            AuditNarrative.referralReceived(
                referralId: referralId, actor: actor, at: receivedAt, organisation: referral.referrer.organisation, bytes: bytes),
            AuditNarrative.referralValidated(
                referralId: referralId, actor: actor, at: receivedAt, lawfulBasis: referral.consent.lawfulBasis?.rawValue,
                decidedAt: referral.consent.decidedAt),
        ]
        let held = deliveries.isEmpty
        if held {
            audit.append(AuditNarrative.referralHeld(referralId: referralId, actor: actor, at: receivedAt, rulesVersion: decision.rulesVersion))
        } else {
            audit.append(
                AuditNarrative.referralRouted(
                    referralId: referralId, actor: actor, at: receivedAt, rulesVersion: decision.rulesVersion,
                    matchedRules: decision.matchedRules, usedFallback: decision.usedFallback,
                    to: decision.targets))
        }
        // Routing asked who may receive it; the words for what was withheld ask again only when something was.
        if !decision.withheld.isEmpty {
            let eligibility = rules.eligibility(of: referral, at: receivedAt)
            let sharedWith =
                eligibility.consentRestriction == nil ? nil : eligibility.recipients.isEmpty ? "the fallback" : "safeguarding recipients"
            audit += decision.withheld.map { withheld in
                AuditNarrative.referralWithheld(
                    referralId: referralId, actor: actor, at: receivedAt, agency: withheld.agency, rule: withheld.rule, reason: withheld.reason,
                    sharedWith: eligibility.refusal(for: withheld.agency, consent: false) == nil ? sharedWith : nil)
            }
        }
        for replacement in decision.replaced {
            let route = deliveries.first { $0.route.agency == replacement.by }?.route
            audit.append(
                AuditNarrative.referralRedirected(
                    referralId: referralId, deliveryId: route?.deliveryId, actor: actor, at: receivedAt, from: replacement.agency,
                    to: replacement.by, rule: route?.rule ?? "-", why: replacement.why))
        }
        // Nothing is held, and no emergency waits, without a person being told.
        var attention: AttentionItem?
        let why =
            decision.attention
            ?? (held ? (decision.outOfArea ? "held: the person lives outside the service area" : "held: no agency may receive it") : nil)
        if let why {
            let opened = desk.open(referralId: referralId, referral: referral, delivery: nil, why: why, actor: actor, at: receivedAt, rules: rules)
            attention = opened.item
            deliveries += opened.deliveries
            audit.append(opened.audit)
        }
        var record = IntakeRecord(
            referralId: referralId, receivedAt: receivedAt, actor: actor, referral: referral, rulesVersion: decision.rulesVersion,
            deliveries: deliveries, audit: audit, idempotency: claim, held: held ? .outOfArea : nil)
        record.attention = attention
        return record
    }

    /// The referral's report as `viewer` may see it, or nil when there is no such referral or the
    /// viewer may not see it: a referrer sees only the referrals it sent (need to know).
    /// - Parameter organisations: a referrer key's organisations: it sees every referral naming one
    ///   of them; a key bound to none sees only the referrals it submitted.
    public func report(referralId: ReferralID, viewer: String, role: Role, organisations: Set<String>? = nil) async throws -> ReferralReport? {
        guard Identifier.isWellFormed(referralId), let report = try await store.report(referralId: referralId) else { return nil }
        if role == .referrer, report.submittedBy != viewer {
            guard let organisations, let referral = try await store.loopReferral(referralId)?.referral,
                organisations.contains(referral.referrer.organisation)
            else { return nil }
        }
        try await store.appendAudit([
            AuditNarrative.referralViewed(referralId: referralId, at: clock.now(), actor: viewer, as: "its report (\(role.rawValue) key)")
        ])
        return report
    }
}
