import CoreMetrics
import Foundation
import Prometheus
import Synchronization

/// What a gateway counts, through swift-metrics, kept in its own Prometheus registry and served at
/// `/metrics` in the Prometheus text format. Labels are only ever the gateway's own words: agency
/// and rule ids from the configuration, and fixed reasons and outcomes. Nothing a request or an
/// agency sends becomes a label, so no personal data can reach a metric.
public final class GatewayMetrics: Sendable {
    /// Why a referral was turned away: the fixed set a label may take.
    public enum Rejection: String, Sendable, CaseIterable {
        case malformed, invalid, unauthorised, forbidden, conflict
        case tooLarge = "too-large"
        case unsupportedMediaType = "unsupported-media-type"
        case rateLimited = "rate-limited"
        case storageUnavailable = "storage-unavailable"
        case other
    }

    /// How one delivery attempt ended.
    public enum Outcome: String, Sendable, CaseIterable {
        case delivered, accepted, retry
        case deadLettered = "dead-lettered"
    }

    /// One agency's queue as `/metrics` reports it, read from the store at each scrape.
    public struct Queue: Sendable {
        public var agency: String
        public var pending: Int
        public var inFlight: Int
        public var deadLettered: Int
        public var oldestPendingSeconds: Double
        /// 0 closed, 1 half-open, 2 open.
        public var circuit: Int
        public var paused: Bool

        public init(
            agency: String, pending: Int, inFlight: Int, deadLettered: Int, oldestPendingSeconds: Double, circuit: Int, paused: Bool
        ) {
            self.agency = agency
            self.pending = pending
            self.inFlight = inFlight
            self.deadLettered = deadLettered
            self.oldestPendingSeconds = oldestPendingSeconds
            self.circuit = circuit
            self.paused = paused
        }
    }

    public let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    private let received: CoreMetrics.Counter
    private let rulesVersion = Mutex<String?>(nil)

    public init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30),
        ]
        self.factory = factory
        received = CoreMetrics.Counter(label: "switchboard_referrals_received_total", factory: factory)
    }

    /// A referral accepted (202).
    public func referralReceived() { received.increment() }

    public func referralRejected(_ reason: Rejection) {
        CoreMetrics.Counter(label: "switchboard_referrals_rejected_total", dimensions: [("reason", reason.rawValue)], factory: factory).increment()
    }

    /// The rules that routed an accepted referral, by id (`fallback` when none matched).
    public func referralRouted(rules: [String]) {
        for rule in Set(rules) {
            CoreMetrics.Counter(label: "switchboard_referrals_routed_total", dimensions: [("rule", rule)], factory: factory).increment()
        }
    }

    /// A request without a valid key, by the front door's reason (one of a fixed few).
    public func authenticationRefused(reason: String, limited: Bool) {
        CoreMetrics.Counter(
            label: "switchboard_auth_refused_total", dimensions: [("reason", reason), ("answer", limited ? "429" : "401")], factory: factory
        ).increment()
    }

    public func deliveryAttempted(agency: String, outcome: Outcome, duration: Duration) {
        CoreMetrics.Counter(
            label: "switchboard_delivery_attempts_total", dimensions: [("agency", agency), ("outcome", outcome.rawValue)], factory: factory
        ).increment()
        let nanoseconds = duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
        CoreMetrics.Timer(label: "switchboard_delivery_duration_seconds", dimensions: [("agency", agency)], factory: factory)
            .recordNanoseconds(nanoseconds)
    }

    /// The queues and the live rules version, as of this scrape.
    public func observe(queues: [Queue], rulesVersion version: String) {
        for queue in queues {
            let agency = [("agency", queue.agency)]
            func gauge(_ label: String, _ value: Double) {
                Gauge(label: label, dimensions: agency, factory: factory).record(value)
            }
            gauge("switchboard_queue_pending", Double(queue.pending))
            gauge("switchboard_queue_in_flight", Double(queue.inFlight))
            gauge("switchboard_queue_dead_letters", Double(queue.deadLettered))
            gauge("switchboard_queue_oldest_pending_seconds", queue.oldestPendingSeconds)
            gauge("switchboard_circuit_state", Double(queue.circuit))
            gauge("switchboard_agency_paused", queue.paused ? 1 : 0)
        }
        let previous = rulesVersion.withLock { last -> String? in
            defer { last = version }
            return last
        }
        if let previous, previous != version {
            Gauge(label: "switchboard_rules_info", dimensions: [("version", previous)], factory: factory).record(0)
        }
        Gauge(label: "switchboard_rules_info", dimensions: [("version", version)], factory: factory).record(1)
    }

    /// What appending to a shared audit chain has cost, as totals: appends, seconds waiting for
    /// the chain's lock, seconds holding it.
    /// Open attention items by urgency, and how many are past their due time: what an on-call
    /// alert watches (config/alerts.rules.yml). Every urgency is reported, zero when none is open.
    public func observe(attention: [(urgency: String, open: Int, overdue: Int)]) {
        for urgency in ["emergency", "urgent", "routine"] {
            let counts = attention.first { $0.urgency == urgency }
            Gauge(label: "switchboard_attention_open", dimensions: [("urgency", urgency)], factory: factory).record(Double(counts?.open ?? 0))
            Gauge(label: "switchboard_overdue", dimensions: [("urgency", urgency)], factory: factory).record(Double(counts?.overdue ?? 0))
        }
    }

    public func observe(auditChainLock appends: Int, waitedSeconds: Double, heldSeconds: Double) {
        Gauge(label: "switchboard_audit_chain_appends", factory: factory).record(Double(appends))
        Gauge(label: "switchboard_audit_chain_lock_wait_seconds", factory: factory).record(waitedSeconds)
        Gauge(label: "switchboard_audit_chain_lock_held_seconds", factory: factory).record(heldSeconds)
    }

    /// Everything counted, in the Prometheus text format.
    public func render() -> [UInt8] { registry.emitToBuffer() }
}
