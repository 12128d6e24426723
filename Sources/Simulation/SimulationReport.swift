import Foundation

/// What a simulated stretch of time came to: the same scenario and seed give the same report.
public struct SimulationReport: Sendable, Codable, Equatable {
    public var scenario: String
    public var seed: UInt64
    /// The simulated span: arrivals from `from` to `arrivalsUntil`, the run until `until`.
    public var from: String
    public var arrivalsUntil: String
    public var until: String
    public var referrals: Referrals
    public var agencies: [AgencyFigures]
    public var attention: Attention
    public var deadlinesMissed: ByUrgency
    /// Every referral that is not accepted, completed, closed with a reason, or in front of a
    /// person on the attention list when the run ends.
    public var unaccounted: [Unaccounted]

    public struct Referrals: Sendable, Codable, Equatable {
        public var submitted: Int
        public var acknowledged: Int
        /// Refused at intake (never acknowledged): by the first problem's field.
        public var refused: [String: Int]
        /// Acknowledged but sent to no agency at once (held out of area, or withheld for consent): each opens an attention item.
        public var heldAtIntake: Int
        public var byUrgency: ByUrgency
        /// Acknowledged referrals by how they ended: taken on, closed with a reason, with a person, unaccounted.
        public var outcome: [String: Int]
        /// From arrival until someone had it (an agency accepted it, or it was put in front of a
        /// person on the attention list), in minutes, by urgency: the figure that matters most for
        /// an emergency.
        public var minutesUntilSomeoneHadIt: [String: Percentiles]
    }

    public struct ByUrgency: Sendable, Codable, Equatable {
        public var emergency = 0
        public var urgent = 0
        public var routine = 0

        public init() {}

        public var total: Int { emergency + urgent + routine }

        mutating func count(_ urgency: String) {
            switch urgency {
            case "emergency": emergency += 1
            case "urgent": urgent += 1
            default: routine += 1
            }
        }
    }

    public struct AgencyFigures: Sendable, Codable, Equatable {
        public var agency: String
        /// Referrals delivered to it (each referral once, however many attempts).
        public var received: Int
        public var accepted: Int
        public var completed: Int
        public var declined: [String: Int]
        /// Taken back before it answered: moved on after a missed deadline or while it could not act.
        public var withdrawn: Int
        /// Still waiting on it when the run ended (pending delivery, or delivered and unanswered).
        public var waiting: Int
        public var deadlinesMissed: Int
        /// From the referral's arrival to this agency's acceptance, in minutes, by urgency.
        public var minutesToAcceptance: [String: Percentiles]
        public var capacityPerDay: Int?
        /// Local dates (Europe/London) on which it was sent more than its capacity.
        public var daysOverCapacity: [String]
        /// Attempts its endpoint failed (unreachable or 5xx) and referrals dead-lettered to it.
        public var failedAttempts: Int
        public var deadLettered: Int
    }

    public struct Percentiles: Sendable, Codable, Equatable {
        public var count: Int
        public var p50: Double
        public var p95: Double
        public var max: Double
    }

    public struct Attention: Sendable, Codable, Equatable {
        public var opened: ByUrgency
        public var openAtEnd: Int
        /// How long items waited for a person, in minutes, to the end of the run (nobody resolves
        /// them in a simulation): by urgency.
        public var minutesWaiting: [String: Percentiles]
        /// The first few reasons given, with how many items gave each (ids and codes only).
        public var reasons: [String: Int]
    }

    public struct Unaccounted: Sendable, Codable, Equatable {
        public var reference: String
        public var urgency: String
        public var why: String
    }
}

extension SimulationReport.Percentiles {
    init(_ values: [Double]) {
        let sorted = values.sorted()
        func at(_ fraction: Double) -> Double {
            guard !sorted.isEmpty else { return 0 }
            let index = Swift.min(sorted.count - 1, Swift.max(0, Int((fraction * Double(sorted.count)).rounded(.up)) - 1))
            return (sorted[index] * 10).rounded() / 10
        }
        self.init(count: sorted.count, p50: at(0.5), p95: at(0.95), max: at(1))
    }
}
