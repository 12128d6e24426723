import Delivery
import ReferralModel
import Routing
import Settings
import Storage
import Synchronization

/// The rules and agencies in force. A change replaces the whole snapshot at once, and each
/// referral reads one snapshot, so every referral is routed by exactly one version of each and no
/// request waits for a swap.
public final class LiveRules: Sendable {
    public struct Snapshot: Sendable {
        /// The rules, validated against the agencies in force (`rules.directory`).
        public let rules: RuleSet
        /// The stored rules version: its number, who applied it and when. Nil until start-up records it.
        public let record: RulesVersionRecord?
        /// The stored agencies version. Nil until start-up records it.
        public let agenciesRecord: RulesVersionRecord?

        public init(rules: RuleSet, record: RulesVersionRecord?, agenciesRecord: RulesVersionRecord? = nil) {
            self.rules = rules
            self.record = record
            self.agenciesRecord = agenciesRecord
        }

        /// The agencies in force.
        public var agencies: AgencyDirectory { rules.directory }

        /// The live text of a governed document.
        public func text(of document: GovernedDocument) -> String { document == .rules ? rules.text : agencies.text }

        /// The live version of a governed document, as `If-Match` names it.
        public func version(of document: GovernedDocument) -> String { document == .rules ? rules.version : agencies.version }

        public func record(of document: GovernedDocument) -> RulesVersionRecord? { document == .rules ? record : agenciesRecord }
    }

    private let state: Mutex<Snapshot>

    public init(_ rules: RuleSet) { state = Mutex(Snapshot(rules: rules, record: nil)) }

    public var current: Snapshot { state.withLock { $0 } }

    func replace(_ snapshot: Snapshot) { state.withLock { $0 = snapshot } }
}

/// How the administrator checks and installs agencies: adapters and secrets are Deployment's, so
/// it fills this port in.
public protocol AgencyInstaller: Sendable {
    /// Validates an agencies.yaml text in full, as start-up would: each agency, its adapter and
    /// options, and the secrets it names in the gateway's environment.
    func validate(_ text: String, file: String) throws(ConfigError) -> AgencyDirectory
    /// Delivers to these agencies from the next lease on.
    func install(_ agencies: AgencyDirectory) async throws
    /// Sends `agency` a signed test delivery (no personal data) as the agencies text `text`
    /// describes it, before that text is live; nil when the text names no such agency. Throws
    /// the text's problems.
    func testDelivery(agency: AgencyID, proposedAgencies text: String) async throws -> PingResult?
}
