import Audit
import Delivery
import Foundation
import ReferralModel
import Routing
import Storage

/// What administrators read about the governed documents, and the dry run: the API and the
/// console read through these, never the store.
extension RulesAdministrator {
    /// How a referral would be routed, rule by rule. Nothing is stored.
    public struct DryRun: Sendable {
        public var referral: Referral
        public var at: Date
        public var decision: RoutingDecision
        public var rules: [RuleTrace]
    }

    /// How `rules` (the live rules when nil) would route `referral` received at `at`: what the
    /// rules test of the API and the console's dry run both show.
    public func dryRun(_ referral: Referral, rules: RuleSet? = nil, at: Date) async throws -> DryRun {
        let rules = rules ?? live.current.rules
        let authorities = try await localAuthorities(of: referral.subject.postcode, for: rules)
        let (decision, traces) = rules.explain(referral, at: at, localAuthorities: authorities)
        return DryRun(referral: referral, at: at, decision: decision, rules: traces)
    }

    /// The referral stored as `id`, as routing saw it, for a dry run of a real referral; nil when
    /// there is none.
    public func storedReferral(_ id: ReferralID) async throws -> Referral? {
        try await store.loopReferral(id)?.referral
    }

    /// The stored versions of `document`, newest first.
    public func history(of document: GovernedDocument, limit: Int) async throws -> [RulesVersionRecord] {
        try await store.versionHistory(of: document, limit: limit)
    }

    /// One stored version of `document`, with its text.
    public func version(_ number: Int, of document: GovernedDocument) async throws -> RulesVersionRecord? {
        try await store.version(number, of: document)
    }

    /// The proposals to `document`, newest first, without their texts.
    public func proposals(of document: GovernedDocument, limit: Int) async throws -> [ChangeProposal] {
        try await store.proposals(of: document, limit: limit)
    }

    /// A test delivery (no personal data) to `agency` as the proposed agencies text `text`
    /// describes it (a new agency, or a new endpoint, secret or TLS setting), before that text is
    /// live; audited with who asked and what came back. Nil when the text names no such agency.
    public func testDelivery(agency: AgencyID, proposedAgencies text: String, by actor: String) async throws -> PingResult? {
        guard let installer else { throw Refusal.agenciesFixed }
        guard let result = try await installer.testDelivery(agency: agency, proposedAgencies: text) else { return nil }
        try await store.appendAudit([
            AuditNarrative.agencyPinged(
                agency: agency, at: clock.now(), by: actor, outcome: result.outcome, status: result.status, milliseconds: result.milliseconds)
        ])
        return result
    }

    /// One proposal, with its text.
    public func proposal(_ id: String) async throws -> ChangeProposal? {
        try await store.proposal(id: id)
    }
}
