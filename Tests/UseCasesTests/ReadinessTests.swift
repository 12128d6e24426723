import Foundation
import Routing
import Settings
import Storage
import Synchronization
import Testing
import UseCases

/// `/readyz` is for a load balancer: it must answer within a second whatever the store does, or
/// the balancer's own check times out and it cannot tell a slow answer from a dead gateway.
@Suite struct ReadinessTests {
    /// A store whose writes never finish until released (a database that went away mid-connect),
    /// counting the writes it was asked for.
    final class StuckStore: StoreHealth {
        let asked = Atomic<Int>(0)
        let released = Atomic<Bool>(false)
        let finished = Atomic<Int>(0)
        func checkWritable() async throws {
            asked.wrappingAdd(1, ordering: .relaxed)
            while !released.load(ordering: .relaxed) { try? await Task.sleep(for: .milliseconds(20)) }
            finished.wrappingAdd(1, ordering: .relaxed)
        }
    }

    static func readiness(_ store: some StoreHealth) throws -> Readiness {
        let directory = try AgencyDirectory.parse(safetyAgencies, file: "agencies.yaml", adapters: ["json-webhook"])
        let rules = LiveRules(try RuleSet.parse(safetyRules, file: "rules.yaml", agencies: directory, vocabulary: .standard))
        return Readiness(store: store, rules: rules, environment: "test") { true }
    }

    @Test func aWriteThatNeverFinishesIsNotReadyWithoutWaitingForIt() async throws {
        let store = StuckStore()
        let readiness = try Self.readiness(store)
        let report = await readiness.check()
        // Answered while the write still hangs: after the 800 ms bound, not when the write ends
        // (how soon after depends on how busy the machine is; bench/outage measures it).
        #expect(store.finished.load(ordering: .relaxed) == 0)
        #expect(report.status == "not-ready")
        #expect(report.store == "a write did not finish within 800 ms")
        store.released.store(true, ordering: .relaxed)
    }

    @Test func checksWhileAWriteHangsWaitOnItRatherThanEachStartingAnother() async throws {
        let store = StuckStore()
        let readiness = try Self.readiness(store)
        _ = await readiness.check()
        // Past the one-second memory of the last answer, the stuck write is still the one asked.
        try await Task.sleep(for: .milliseconds(1100))
        let again = await readiness.check()
        #expect(again.status == "not-ready")
        #expect(store.asked.load(ordering: .relaxed) == 1, "one write for both checks")
        store.released.store(true, ordering: .relaxed)
        // Once it finishes, checks are ready again.
        var ready = again
        for _ in 0..<20 where !ready.isReady {
            try await Task.sleep(for: .milliseconds(1100))
            ready = await readiness.check()
        }
        #expect(ready.status == "ready")
    }
}
