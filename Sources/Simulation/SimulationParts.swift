import Foundation
import ReferralModel
import Synchronization
import Transport

/// The simulation's clock: time moves only when the simulator moves it. Everything the gateway's
/// code reads the time from (intake, routing, the dispatcher, deadlines) reads this one.
public final class SimulatedClock: WallClock {
    private let current: Mutex<Date>

    public init(_ start: Date) { current = Mutex(start) }

    public func now() -> Date { current.withLock { $0 } }

    /// Moves the clock forward to `instant` (never back).
    func advance(to instant: Date) { current.withLock { $0 = max($0, instant) } }

    /// Returns once the simulator has moved the clock past `deadline`. Nothing the simulation
    /// drives sleeps; this is here for the protocol's sake, and checks for cancellation as it waits.
    public func sleep(until deadline: Date) async throws {
        while now() < deadline {
            try Task.checkCancellation()
            try await Task.sleep(for: .milliseconds(1))
        }
    }
}

/// A simulation's draws (`SplitMix64`), fixed by the scenario's seed. Each referral and each
/// agency's answer draws from a stream of its own (`SeededRandom(seed, a, b)`), so the order in
/// which concurrent parts run cannot change what they draw.
struct SeededRandom: RandomNumberGenerator {
    private var generator: SplitMix64

    init(_ seed: UInt64, _ streams: UInt64...) {
        var state = seed
        for stream in streams {
            state = SplitMix64.mix(state ^ SplitMix64.mix(stream &+ 0x9E37_79B9_7F4A_7C15))
        }
        generator = SplitMix64(state: state)
    }

    mutating func next() -> UInt64 { generator.next() }

    /// Uniform in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }

    /// One of `choices`, in proportion to their weights.
    mutating func pick<Value>(_ choices: [Scenario.Weighted<Value>]) -> Value? {
        let total = choices.reduce(0) { $0 + $1.weight }
        guard total > 0 else { return choices.first?.value }
        var point = unit() * total
        for choice in choices {
            if point < choice.weight { return choice.value }
            point -= choice.weight
        }
        return choices.last?.value
    }

    /// A count with mean `mean` (Poisson; by the normal approximation above 50).
    mutating func poisson(_ mean: Double) -> Int {
        guard mean > 0 else { return 0 }
        if mean > 50 { return max(0, Int((mean + normal() * mean.squareRoot()).rounded())) }
        let limit = exp(-mean)
        var count = 0
        var product = unit()
        while product > limit {
            count += 1
            product *= unit()
        }
        return count
    }

    /// Standard normal (Box–Muller).
    mutating func normal() -> Double {
        let u = max(unit(), 1e-12)
        return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * unit())
    }

    /// Log-normal with this median and 95th percentile.
    mutating func logNormal(median: Double, p95: Double) -> Double {
        let sigma = max(log(p95) - log(median), 0) / 1.6449
        return exp(log(median) + sigma * normal())
    }
}

/// The agencies' systems, scripted: each endpoint takes what it is sent (HTTP 202), except while
/// the scenario says it is unreachable (the connection times out) or failing (HTTP 503). The
/// request itself is the real one: rendered by the agency's adapter, signed, headers and all.
final class ScriptedAgencies: HTTPTransport {
    private let endpoints: [(prefix: String, agency: AgencyID)]
    private let behaviours: [AgencyID: Scenario.AgencyBehaviour]
    private let clock: SimulatedClock
    /// Requests each agency's endpoint was sent.
    let requests = Mutex<[AgencyID: Int]>([:])

    init(endpoints: [AgencyID: String], behaviours: [AgencyID: Scenario.AgencyBehaviour], clock: SimulatedClock) {
        // Longest first, so an endpoint that extends another's is matched to its own agency.
        self.endpoints = endpoints.map { ($0.value, $0.key) }.sorted { $0.prefix.count > $1.prefix.count }
        self.behaviours = behaviours
        self.clock = clock
    }

    func send(_ request: HTTPRequest) async throws(TransportError) -> HTTPResponse {
        guard let agency = endpoints.first(where: { request.url.hasPrefix($0.prefix) })?.agency else {
            // A referrer's callback or the on-call system: it takes the notice.
            return HTTPResponse(status: 202)
        }
        requests.withLock { $0[agency, default: 0] += 1 }
        let now = clock.now()
        switch behaviours[agency]?.outages.first(where: { $0.covers(now) && $0.kind != .silent })?.kind {
        case .unreachable?:
            throw TransportError(kind: .timedOut, message: "simulated: the agency's system did not answer")
        case .errors?:
            return HTTPResponse(status: 503)
        case .silent?, nil:
            return HTTPResponse(status: 202)
        }
    }
}
