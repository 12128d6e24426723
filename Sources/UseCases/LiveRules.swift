import ReferralModel
import Routing
import Storage
import Synchronization

/// The rules in force. A change replaces the whole snapshot at once, and each referral reads one
/// snapshot, so every referral is routed by exactly one version and no request waits for a swap.
public final class LiveRules: Sendable {
    public struct Snapshot: Sendable {
        public let rules: RuleSet
        /// The stored version: its number, who applied it and when. Nil until start-up records it.
        public let record: RulesVersionRecord?
    }

    private let state: Mutex<Snapshot>

    public init(_ rules: RuleSet) { state = Mutex(Snapshot(rules: rules, record: nil)) }

    public var current: Snapshot { state.withLock { $0 } }

    func replace(_ snapshot: Snapshot) { state.withLock { $0 = snapshot } }
}
