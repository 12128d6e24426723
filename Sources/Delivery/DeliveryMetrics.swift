import CoreMetrics

/// What the dispatcher counts, through swift-metrics into the factory it is given (the gateway's
/// own Prometheus registry): each attempt by agency and outcome, and how long it took. Labels are
/// only agency ids from the configuration and fixed outcomes.
public struct DeliveryMetrics: Sendable {
    /// How one delivery attempt ended.
    public enum Outcome: String, Sendable, CaseIterable {
        case delivered, accepted, retry
        case deadLettered = "dead-lettered"
    }

    let factory: (any MetricsFactory)?

    public init(factory: (any MetricsFactory)?) {
        self.factory = factory
    }

    func attempted(agency: String, outcome: Outcome, duration: Duration) {
        guard let factory else { return }
        Counter(label: "switchboard_delivery_attempts_total", dimensions: [("agency", agency), ("outcome", outcome.rawValue)], factory: factory)
            .increment()
        let nanoseconds = duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
        Timer(label: "switchboard_delivery_duration_seconds", dimensions: [("agency", agency)], factory: factory).recordNanoseconds(nanoseconds)
    }
}
