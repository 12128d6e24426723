import Audit
import Delivery
import Foundation
import ReferralModel
import Storage
import SwitchboardTesting
import Synchronization
import Testing
import UseCases

/// The lanes a running dispatcher would hold, scripted: what the operators' commands read and change.
final class ScriptedLanes: LaneControl {
    private let state: Mutex<[AgencyID: AgencyLaneState]>
    let woken = Atomic<Int>(0)

    init(_ agencies: [AgencyID]) {
        state = Mutex(Dictionary(uniqueKeysWithValues: agencies.map { ($0, AgencyLaneState(agency: $0)) }))
    }

    var lanes: [AgencyLaneState] { state.withLock { Array($0.values) } }
    var laneConcurrency: [AgencyID: Int] { state.withLock { $0.mapValues { _ in 4 } } }

    func pause(agency: AgencyID, reason: String?, by actor: String) async throws -> AgencyLaneState? {
        state.withLock { lanes in
            lanes[agency]?.paused = .init(reason: reason ?? "", by: actor, at: Date(timeIntervalSince1970: 1_800_000_000))
            return lanes[agency]
        }
    }

    func resume(agency: AgencyID, by actor: String) async throws -> AgencyLaneState? {
        state.withLock { lanes in
            lanes[agency]?.paused = nil
            return lanes[agency]
        }
    }

    func ping(agency: AgencyID) async -> PingResult? {
        guard state.withLock({ $0[agency] }) != nil else { return nil }
        return PingResult(
            agency: agency, endpoint: "https://\(agency).example/referrals", status: 401, outcome: "refused", milliseconds: 12, tls: true,
            signed: true, webhookId: "msg_test")
    }

    func wake() { woken.add(1, ordering: .relaxed) }
}

/// A referral accepted at `at`, routed to each of `agencies`.
func record(agencies: [AgencyID], at: Date) -> IntakeRecord {
    let id = ReferralID.make(now: at)
    let referral = Referral(
        referrer: .init(organisation: "A81001", name: "Dr Test"),
        subject: .init(nhsNumber: "9990000018", givenName: "Test", familyName: "Person", birthDate: "1950-01-01", postcode: "OX1 2JD"),
        needs: ["reablement"], urgency: .routine, reason: "test", consent: .init(status: .given))
    return IntakeRecord(
        referralId: id, receivedAt: at, actor: "gp", referral: referral, rulesVersion: "sha256:abc",
        deliveries: agencies.map { NewDelivery(route: Route(agency: $0, rule: "r-\($0)", deliveryId: DeliveryID.make(now: at))) },
        audit: [AuditEntry(at: Timestamp.string(at), kind: .referralReceived, actor: "gp", referralId: id, detail: "from A81001")],
        idempotency: nil)
}

/// The operators' queue commands over the in-memory store and a manual clock: each agency's queue,
/// pausing and resuming, dead letters put back once each, test deliveries, all audited.
@Suite struct QueueOperationsTests {
    let store: any SwitchboardStore = InMemoryStore()
    let clock = ManualClock(now: Date(timeIntervalSince1970: 1_800_000_000))
    let lanes = ScriptedLanes(["spa", "falls"])
    var operations: QueueOperations { QueueOperations(queue: store, audit: store, lanes: lanes, clock: clock) }

    @Test func theOverviewCountsEachAgencysQueueAndShowsAPause() async throws {
        _ = try await store.accept(record(agencies: ["spa", "falls"], at: clock.now()))
        _ = try await store.accept(record(agencies: ["retired"], at: clock.now()))
        clock.advance(by: 90)
        let overview = try await operations.overview()
        #expect(overview.agencies.map(\.agency.rawValue) == ["falls", "retired", "spa"])
        let spa = try #require(overview.agencies.first { $0.agency == "spa" })
        #expect(spa.pending == 1 && spa.status == .running && spa.circuit == .closed && spa.oldestPendingSeconds == 90)
        #expect(overview.agencies.first { $0.agency == "retired" }?.status == .notConfigured, "jobs wait for an agency no longer configured")

        let paused = try await operations.pause(agency: "spa", reason: "system upgrade", by: "Ada")
        #expect(paused?.status == .paused && paused?.paused?.reason == "system upgrade" && paused?.paused?.by == "Ada")
        #expect(try await operations.pause(agency: "nobody", reason: nil, by: "Ada") == nil)
        #expect(try await operations.resume(agency: "spa", by: "Ada")?.status == .running)
    }

    @Test func deadLettersArePutBackOnceEachAndTheRequeueIsAuditedWithWhoAsked() async throws {
        let intake = record(agencies: ["spa"], at: clock.now())
        _ = try await store.accept(intake)
        let leased = try await store.leaseDueDeliveries(now: clock.now(), lanes: [LaneDemand(agency: "spa", limit: 1, leaseDuration: 30)])
        _ = try await store.finish(leased[0], result: .deadLetter(error: "HTTP 422"), audit: [], now: clock.now())
        let delivery = intake.deliveries[0].route.deliveryId
        #expect(try await operations.deadLetters(agency: "spa", limit: 10, by: "Ada").deadLetters.map(\.deliveryId) == [delivery])
        let read = try await store.auditEvents(afterSequence: 0, limit: 100).filter { $0.kind == AuditKind.deadLettersRead.rawValue }
        #expect(read.map(\.actor) == ["Ada"] && read.first?.detail == "1 dead letter read with the agencies' replies")
        #expect(try await operations.deadLetters(agency: "falls", limit: 10, by: "Ada").deadLetters.isEmpty)
        #expect(
            try await store.auditEvents(afterSequence: 0, limit: 100).filter { $0.kind == AuditKind.deadLettersRead.rawValue }.count == 1,
            "reading none records nothing")

        let first = try await operations.retry(.deliveries([delivery]), by: "Ben")
        #expect(first.requeued == [delivery])
        #expect(lanes.woken.load(ordering: .relaxed) == 1, "the dispatcher is told there is work")
        #expect(try await operations.retry(.deliveries([delivery]), by: "Ben").requeued.isEmpty, "a letter goes back once")
        #expect(lanes.woken.load(ordering: .relaxed) == 1)
        #expect(try await operations.overview().agencies.first { $0.agency == "spa" }?.pending == 1)
        let requeued = try await store.auditEvents(afterSequence: 0, limit: 100).filter { $0.kind == AuditKind.deliveryRequeued.rawValue }
        #expect(requeued.map(\.actor) == ["Ben"])
    }

    @Test func aTestDeliveryIsAuditedWithWhatCameBackAndAnUnknownAgencyHasNone() async throws {
        let result = try #require(try await operations.ping(agency: "falls", by: "Ada"))
        #expect(result.status == 401 && result.outcome == "refused")
        #expect(try await operations.ping(agency: "nobody", by: "Ada") == nil)
        let pinged = try await store.auditEvents(afterSequence: 0, limit: 10).filter { $0.kind == AuditKind.agencyPinged.rawValue }
        #expect(pinged.count == 1 && pinged[0].actor == "Ada" && pinged[0].agency == "falls")
    }
}
