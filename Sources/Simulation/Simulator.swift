import Audit
import Deployment
import Foundation
import Logging
import ReferralModel
import Settings
import Storage
import UseCases

/// Runs a scenario through the gateway's own parts: the configuration's rules and agencies, the
/// intake, routing, the dispatcher with each agency's adapter and retry policy, the closed loop and
/// the deadline watcher, over the in-memory store and a clock the simulator moves from one event
/// to the next. Only the agencies are scripted: their systems (`ScriptedAgencies`) and their
/// people's answers. What happened is read back from the audit trail and the store, as an
/// administrator would read it.
public final class Simulator {
    let scenario: Scenario
    let name: String
    let clock: SimulatedClock
    let store: InMemoryStore
    let components: GatewayComponents
    let agencies: ScriptedAgencies
    /// Each agency's behaviour: the scenario's, else accepting everything within the hour.
    let behaviours: [AgencyID: Scenario.AgencyBehaviour]
    /// Capacity a day: the scenario's, else agencies.yaml's.
    let capacity: [AgencyID: Int]
    var ledger = SimulationLedger()

    /// - Parameter name: how the report names the scenario (its file name).
    public init(scenario: Scenario, name: String, configuration: DeploymentConfiguration, logger: Logger) throws {
        self.scenario = scenario
        self.name = name
        clock = SimulatedClock(scenario.start)
        store = InMemoryStore()
        var configuration = configuration
        // Its referrals carry made-up people with test-range NHS numbers, which a live gateway refuses.
        configuration.settings.environment = .test
        var behaviours: [AgencyID: Scenario.AgencyBehaviour] = [:]
        var capacity: [AgencyID: Int] = [:]
        for agency in configuration.agencies.agencies {
            var behaviour = scenario.agencies[agency.id] ?? Scenario.AgencyBehaviour()
            if behaviour.capacityPerDay == nil { behaviour.capacityPerDay = agency.capacityPerDay }
            behaviours[agency.id] = behaviour
            if let perDay = behaviour.capacityPerDay { capacity[agency.id] = perDay }
        }
        self.behaviours = behaviours
        self.capacity = capacity
        agencies = ScriptedAgencies(
            endpoints: Dictionary(configuration.agencies.agencies.map { ($0.id, $0.endpoint) }, uniquingKeysWith: { first, _ in first }),
            behaviours: behaviours, clock: clock)
        components = try GatewayComponents(
            configuration: configuration, store: store, clock: clock, logger: logger, environment: [:], deliveryTransport: agencies)
    }

    /// Runs the scenario to its end and reports. Identifiers come from the seed too, so the order
    /// of everything sorted by them, and so the whole run, replays exactly.
    public func run() async throws -> SimulationReport {
        var random = SeededRandom(scenario.seed, 4)
        return try await Identifier.$seeded.withValue(SeededIdentifiers(seed: random.next())) { try await simulate() }
    }

    private func simulate() async throws -> SimulationReport {
        try await components.start()
        let arrivals = scenario.arrivals()
        var nextArrival = 0
        let lastMoment = scenario.arrivalsEnd.addingTimeInterval(Double(scenario.settleDays) * 86_400)
        while true {
            let now = clock.now()
            while nextArrival < arrivals.count, arrivals[nextArrival].at <= now {
                await submit(arrivals[nextArrival], index: nextArrival)
                nextArrival += 1
            }
            try await answerDue(now: now)
            // Deliver, escalate what is overdue, and deliver what that re-routed, until it settles.
            while true {
                let attempts = await components.dispatcher.deliverDue()
                var escalated = 0
                while true {
                    let count = try await components.loop.escalateDue()
                    if count == 0 { break }
                    escalated += count
                }
                if attempts == 0 && escalated == 0 { break }
            }
            try await readAudit()
            let arrived = nextArrival == arrivals.count
            let due = await store.nextDueDate(agencies: Array(behaviours.keys))
            let deadline = await store.nextDeadline()
            if arrived, ledger.answers.isEmpty, due == nil, deadline == nil { break }
            if now >= lastMoment { break }
            var next = now.addingTimeInterval(900)
            if nextArrival < arrivals.count { next = min(next, arrivals[nextArrival].at) }
            if let answer = ledger.answers.first { next = min(next, answer.at) }
            // A job due now that was not sent waits on a stopped lane: look again shortly.
            if let due { next = min(next, due > now ? due : now.addingTimeInterval(10)) }
            if let deadline { next = min(next, deadline > now ? deadline : now.addingTimeInterval(1)) }
            clock.advance(to: min(next, lastMoment))
        }
        return try await report(arrivals: arrivals)
    }

    private func submit(_ arrival: SimulatedArrival, index: Int) async {
        ledger.submitted += 1
        do {
            let accepted = try await components.intake.submit(
                arrival.body, actor: "simulation", organisations: nil, idempotencyKey: nil, requestId: arrival.reference)
            ledger.referrals[accepted.receipt.id] = .init(index: index, arrival: arrival)
            ledger.order.append(accepted.receipt.id)
            if accepted.receipt.routes.isEmpty { ledger.heldAtIntake += 1 }
        } catch ReferralIntake.Refusal.invalid(let issues) {
            ledger.refused[issues.first?.pointer ?? "(body)", default: 0] += 1
        } catch {
            ledger.refused["\(type(of: error))", default: 0] += 1
        }
    }
}

/// What the simulator keeps as it goes: its own record of each referral and the answers its
/// agencies' people will give, and the facts the report is built from.
struct SimulationLedger {
    struct Record {
        var index: Int
        var arrival: SimulatedArrival
    }

    /// An answer an agency's people will give, once its time comes.
    struct PendingAnswer {
        var at: Date
        var index: Int
        var referralId: ReferralID
        var deliveryId: DeliveryID
        var agency: AgencyID
        var answer: Scenario.Answer
    }

    var submitted = 0
    var heldAtIntake = 0
    var refused: [String: Int] = [:]
    var referrals: [ReferralID: Record] = [:]
    var order: [ReferralID] = []
    /// In order of time, then of referral, then of agency: the order they are given in.
    var answers: [PendingAnswer] = []
    /// Deliveries already seen delivered, so a redelivery is not answered twice at once.
    var delivered: Set<DeliveryID> = []
    var received: [AgencyID: Int] = [:]
    var receivedByDay: [AgencyID: [String: Int]] = [:]
    var acceptedByDay: [AgencyID: [String: Int]] = [:]
    var declined: [AgencyID: [String: Int]] = [:]
    /// Deliveries declined for a reason that closes them (the person said no; a duplicate).
    var closingDeclines: Set<DeliveryID> = []
    var deadlinesMissed: [AgencyID: Int] = [:]
    var deadlinesByUrgency = SimulationReport.ByUrgency()
    var minutesToAcceptance: [AgencyID: [String: [Double]]] = [:]
    var attentionOpened: [(at: Date, referralId: ReferralID, reason: String)] = []
    /// When someone first had each referral: an agency accepted it, or a person was told.
    var someoneHadIt: [ReferralID: Date] = [:]
    var failedAttempts: [AgencyID: Int] = [:]
    var deadLettered: [AgencyID: Int] = [:]
    var auditPosition: Int64 = 0

    mutating func schedule(_ answer: PendingAnswer) {
        let key = (answer.at, answer.index, answer.agency.rawValue)
        let position = answers.partitioningIndex { ($0.at, $0.index, $0.agency.rawValue) > key }
        answers.insert(answer, at: position)
    }
}

extension Array {
    /// The first index whose element satisfies `belongs`, for a predicate false then true along the array.
    func partitioningIndex(where belongs: (Element) -> Bool) -> Int {
        var low = 0
        var high = count
        while low < high {
            let middle = (low + high) / 2
            if belongs(self[middle]) { high = middle } else { low = middle + 1 }
        }
        return low
    }
}
