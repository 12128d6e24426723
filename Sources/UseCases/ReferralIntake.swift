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
    private let onAccepted: @Sendable () -> Void

    /// - Parameter onAccepted: called after each new referral is durable (the dispatcher's doorbell).
    public init(
        decoder: ReferralDecoder, rules: LiveRules, store: any ReferralStore & AuditLog & PostcodeDirectoryStore & ReferralLoopStore,
        clock: any WallClock = SystemClock(),
        onAccepted: @escaping @Sendable () -> Void = {}
    ) {
        self.decoder = decoder
        self.rules = rules
        self.store = store
        self.clock = clock
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
        let receivedAt = clock.now()
        let referral: Referral
        do {
            referral = try decoder.decode(body, today: CalendarDate.string(from: receivedAt))
        } catch .syntax(let error) {
            throw Refusal.malformed(error.description)
        } catch .invalid(let failure) {
            throw Refusal.invalid(failure.issues)
        }
        // The organisation is the referrer's own claim: a key bound to organisations proves it.
        if let organisations, !organisations.contains(referral.referrer.organisation) {
            try await store.appendAudit([
                AuditNarrative.referralRefused(
                    actor: actor, at: receivedAt, claimedOrganisation: referral.referrer.organisation, allowed: Array(organisations))
            ])
            throw Refusal.organisationNotAllowed(claimed: referral.referrer.organisation, allowed: organisations.sorted())
        }
        let claim = idempotencyKey.map { IdempotencyClaim(key: $0, bodyDigest: Hex.encode(SHA256.hash(data: Array(body)))) }
        // One snapshot of the rules routes the referral, and is the version its receipt names.
        let rules = self.rules.current.rules
        let authorities = rules.namesLocalAuthorities ? try await store.localAuthorities(of: referral.subject.postcode) : []
        var record = intakeRecord(
            referral, rules: rules, localAuthorities: authorities, bytes: body.count, actor: actor, receivedAt: receivedAt, claim: claim)
        record.requestId = requestId
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
        _ referral: Referral, rules: RuleSet, localAuthorities: Set<String>, bytes: Int, actor: String, receivedAt: Date, claim: IdempotencyClaim?
    ) -> IntakeRecord {
        let decision = rules.route(referral, at: receivedAt, localAuthorities: localAuthorities)
        let referralId = Identifier.make(now: receivedAt)
        let routes = decision.targets.map { Route(agency: $0.agency, rule: $0.rule, deliveryId: Identifier.make(now: receivedAt)) }
        var alternatives: [String: [String]] = [:]
        var needs: [String: [String]] = [:]
        for (route, target) in zip(routes, decision.targets) {
            if !target.alternatives.isEmpty { alternatives[route.deliveryId] = target.alternatives }
            if let routedFor = target.needs { needs[route.deliveryId] = routedFor }
        }
        var audit = [
            AuditNarrative.referralReceived(
                referralId: referralId, actor: actor, at: receivedAt, organisation: referral.referrer.organisation, bytes: bytes),
            AuditNarrative.referralValidated(
                referralId: referralId, actor: actor, at: receivedAt, lawfulBasis: referral.consent.lawfulBasis?.rawValue),
        ]
        let held = routes.isEmpty && decision.outOfArea
        if held {
            audit.append(AuditNarrative.referralHeld(referralId: referralId, actor: actor, at: receivedAt, rulesVersion: decision.rulesVersion))
        } else {
            audit.append(
                AuditNarrative.referralRouted(
                    referralId: referralId, actor: actor, at: receivedAt, rulesVersion: decision.rulesVersion,
                    matchedRules: decision.matchedRules, usedFallback: decision.usedFallback,
                    to: zip(routes, decision.targets).map { .init(agency: $0.agency, rule: $0.rule, alternatives: $1.alternatives) }))
        }
        audit += decision.withheld.map {
            AuditNarrative.referralWithheld(referralId: referralId, actor: actor, at: receivedAt, agency: $0.agency, rule: $0.rule, reason: $0.reason)
        }
        var record = IntakeRecord(
            referralId: referralId, receivedAt: receivedAt, actor: actor, referral: referral, rulesVersion: decision.rulesVersion,
            routes: routes, audit: audit, idempotency: claim, alternatives: alternatives, needs: needs, held: held ? .outOfArea : nil)
        for route in routes {
            record.deadlines[route.deliveryId] = ReferralLoop.deadline(for: referral, agency: route.agency, from: receivedAt, rules: rules)
        }
        return record
    }

    /// The referral's report as `viewer` may see it, or nil when there is no such referral or the
    /// viewer may not see it: a referrer sees only the referrals it sent (need to know).
    /// - Parameter organisations: a referrer key's organisations: it sees every referral naming one
    ///   of them; a key bound to none sees only the referrals it submitted.
    public func report(referralId: String, viewer: String, role: Role, organisations: Set<String>? = nil) async throws -> ReferralReport? {
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
