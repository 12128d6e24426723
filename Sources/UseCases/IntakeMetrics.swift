import CoreMetrics
import Storage

/// What intake counts, through swift-metrics into the factory it is given (the gateway's own
/// Prometheus registry): every door (the API, the console, FHIR messages) counts the same way,
/// because the use case counts, not the door. Labels are only the gateway's own words.
public struct IntakeMetrics: Sendable {
    /// Why a referral was turned away: the fixed set a label may take.
    public enum Rejection: String, Sendable, CaseIterable {
        case malformed, invalid, unauthorised, forbidden, conflict
        case tooLarge = "too-large"
        case unsupportedMediaType = "unsupported-media-type"
        case rateLimited = "rate-limited"
        case storageUnavailable = "storage-unavailable"
        case other

        init(_ refusal: ReferralIntake.Refusal) {
            switch refusal {
            case .malformed: self = .malformed
            case .invalid: self = .invalid
            case .idempotencyConflict: self = .conflict
            case .organisationNotAllowed: self = .forbidden
            }
        }

        /// Why an error thrown while admitting a referral turned it away.
        init(_ error: any Error) {
            if let refusal = error as? ReferralIntake.Refusal {
                self.init(refusal)
            } else {
                self = StoreFault.isUnavailable(error) ? .storageUnavailable : .other
            }
        }
    }

    let factory: (any MetricsFactory)?
    /// Made once: it is counted on every accepted referral.
    private let receivedCounter: Counter?

    public init(factory: (any MetricsFactory)?) {
        self.factory = factory
        receivedCounter = factory.map { Counter(label: "switchboard_referrals_received_total", factory: $0) }
    }

    /// A referral accepted: new, or the answer to a retry of one.
    func received() { receivedCounter?.increment() }

    /// The rules that routed a new referral, by id (`none` when it went nowhere).
    func routed(rules: [String]) {
        guard let factory else { return }
        for rule in Set(rules.isEmpty ? ["none"] : rules) {
            Counter(label: "switchboard_referrals_routed_total", dimensions: [("rule", rule)], factory: factory).increment()
        }
    }

    func rejected(_ reason: Rejection) {
        guard let factory else { return }
        Counter(label: "switchboard_referrals_rejected_total", dimensions: [("reason", reason.rawValue)], factory: factory).increment()
    }
}
