import Foundation
import ReferralModel
import Routing

/// A scripted stretch of time for `switchboard simulate`: how many referrals arrive and of what
/// kind, and how each agency behaves. Read from YAML (`config/schema/scenario.schema.json`).
public struct Scenario: Sendable, Equatable {
    /// Fixes every draw: the same scenario and seed give the same report.
    public var seed: UInt64
    /// The first simulated day, at midnight Europe/London.
    public var start: Date
    /// Days on which referrals arrive.
    public var days: Int
    /// The longest the run goes on after the last arrival, for answers, retries and deadlines. It
    /// stops sooner once nothing is left that time would move.
    public var settleDays: Int
    public var referrals: Referrals
    /// How each agency behaves, by agency id; an agency not named accepts everything within an hour.
    public var agencies: [AgencyID: AgencyBehaviour]

    /// What arrives.
    public struct Referrals: Sendable, Equatable {
        /// Referrals an hour by ISO weekday (1 = Monday) and hour of the day (Europe/London):
        /// each hour's count is drawn from a Poisson distribution with this mean.
        public var hourly: [Int: [Double]]
        /// Each referral's first need, by weight.
        public var needs: [Weighted<String>]
        /// The percentage naming a second need, drawn from the same mix.
        public var secondNeedPercent: Double
        public var urgency: [Weighted<Urgency>]
        public var ages: [Weighted<ClosedRange<Int>>]
        public var postcodes: [Weighted<String>]
        public var consent: [Weighted<ConsentStatus>]
        /// The percentage flagged as a safeguarding concern.
        public var safeguardingPercent: Double

        /// The mean count a week.
        public var perWeek: Double { hourly.values.reduce(0) { $0 + $1.reduce(0, +) } }
    }

    /// A choice and its weight.
    public struct Weighted<Value: Sendable & Equatable>: Sendable, Equatable {
        public var value: Value
        public var weight: Double

        public init(_ value: Value, _ weight: Double) {
            self.value = value
            self.weight = weight
        }
    }

    /// How one agency's people and system behave.
    public struct AgencyBehaviour: Sendable, Equatable {
        /// Its answers by weight: accepted, or declined for a reason.
        public var answers: [Weighted<Answer>]
        /// How long it takes to answer a delivered referral: log-normal with this median and 95th percentile.
        public var answerMedianMinutes: Double
        public var answerP95Minutes: Double
        /// When its people answer; nil for any time. An answer that falls outside waits for the next opening.
        public var hours: TimeWindow?
        /// The most it accepts in a day (Europe/London); past it, it declines for no capacity.
        public var capacityPerDay: Int?
        public var outages: [Outage]

        public init(
            answers: [Weighted<Answer>] = [.init(.accept, 1)], answerMedianMinutes: Double = 30, answerP95Minutes: Double = 60,
            hours: TimeWindow? = nil, capacityPerDay: Int? = nil, outages: [Outage] = []
        ) {
            self.answers = answers
            self.answerMedianMinutes = answerMedianMinutes
            self.answerP95Minutes = answerP95Minutes
            self.hours = hours
            self.capacityPerDay = capacityPerDay
            self.outages = outages
        }
    }

    public enum Answer: Sendable, Equatable {
        case accept
        case decline(DeclineReason)
    }

    /// A stretch of time an agency is not itself.
    public struct Outage: Sendable, Equatable {
        public enum Kind: String, Sendable, Equatable, CaseIterable {
            /// Its system takes deliveries but nobody answers them.
            case silent
            /// Its system cannot be reached (the connection times out).
            case unreachable
            /// Its system answers HTTP 503.
            case errors
        }

        public var kind: Kind
        public var from: Date
        public var until: Date

        public func covers(_ instant: Date) -> Bool { instant >= from && instant < until }
    }

    /// When the last referral may arrive.
    public var arrivalsEnd: Date { start.addingTimeInterval(Double(days) * 86_400) }
}
