import CoreMetrics
import Foundation
import Prometheus
import Synchronization

/// What a gateway counts, through swift-metrics, kept in its own Prometheus registry and served at
/// `/metrics` in the Prometheus text format. Labels are only ever the gateway's own words: agency
/// and rule ids from the configuration, and fixed reasons and outcomes. Nothing a request or an
/// agency sends becomes a label, so no personal data can reach a metric.
public final class GatewayMetrics: Sendable {
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
    /// The swift-metrics factory that counts into this gateway's registry: what the dispatcher and
    /// the use cases are given, so they count without knowing about Prometheus or this type.
    public let factory: PrometheusMetricsFactory
    private let rulesVersion = Mutex<String?>(nil)

    public init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30),
        ]
        self.factory = factory
    }

    /// A request without a valid key, by the front door's reason (one of a fixed few).
    public func authenticationRefused(reason: String, limited: Bool) {
        CoreMetrics.Counter(
            label: "switchboard_auth_refused_total", dimensions: [("reason", reason), ("answer", limited ? "429" : "401")], factory: factory
        ).increment()
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

    /// Open attention items by urgency, and how many are past their due time: what an on-call
    /// alert watches (config/alerts.rules.yml). Every urgency is reported, zero when none is open.
    public func observe(attention: [(urgency: String, open: Int, overdue: Int)]) {
        for urgency in ["emergency", "urgent", "routine"] {
            let counts = attention.first { $0.urgency == urgency }
            Gauge(label: "switchboard_attention_open", dimensions: [("urgency", urgency)], factory: factory).record(Double(counts?.open ?? 0))
            Gauge(label: "switchboard_overdue", dimensions: [("urgency", urgency)], factory: factory).record(Double(counts?.overdue ?? 0))
        }
    }

    /// On a database several gateways share, as totals: turns in which this gateway chained audit
    /// events, seconds it waited for the sequencer's lock, seconds it held it.
    public func observe(auditChainLock appends: Int, waitedSeconds: Double, heldSeconds: Double) {
        Gauge(label: "switchboard_audit_chain_appends", factory: factory).record(Double(appends))
        Gauge(label: "switchboard_audit_chain_lock_wait_seconds", factory: factory).record(waitedSeconds)
        Gauge(label: "switchboard_audit_chain_lock_held_seconds", factory: factory).record(heldSeconds)
    }

    /// On a database several gateways share: audit events written and not yet chained, and how
    /// long the oldest has waited (the sequencer's lag; under a second while it keeps up).
    public func observe(auditBacklog events: Int, oldestSeconds: Double) {
        Gauge(label: "switchboard_audit_unsequenced_events", factory: factory).record(Double(events))
        Gauge(label: "switchboard_audit_sequencer_lag_seconds", factory: factory).record(oldestSeconds)
    }

    /// Everything counted, in the Prometheus text format.
    public func render() -> [UInt8] { registry.emitToBuffer() }
}
