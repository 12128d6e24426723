import Audit
import Foundation
import ReferralModel
import Storage
import Testing

@testable import PostgresStorage

/// On PostgreSQL the events gateways write wait unchained until one gateway at a time chains them;
/// a read of the log sees every event committed before it, in one contiguous, verifiable chain.
@Suite struct AuditSequencerTests {
    func entry(_ detail: String) -> AuditEntry { AuditEntry(at: "2026-12-07T12:00:00.000Z", kind: .gatewayStarted, detail: detail) }

    @Test func eventsWaitUnchainedAndAReadOfTheLogChainsThemFirst() async throws {
        let store = try #require(try await PostgresStoreTests.stores(1).first)
        try await store.appendAudit([entry("one"), entry("two"), entry("three")])
        #expect(try await store.auditBacklog().events == 3, "written in the change's transaction, not yet chained")
        let events = try await store.auditEvents(afterSequence: 0, limit: 10)
        #expect(events.map(\.detail) == ["one", "two", "three"] && events.map(\.sequence) == [1, 2, 3])
        #expect(try await store.auditBacklog() == AuditBacklog(events: 0, oldestSeconds: 0))
        #expect(try await store.verifyAudit() == .intact(events: 3, head: events[2].hash))
    }

    @Test func missingAndEmptyValuesKeepTheirDifferenceThroughTheLog() async throws {
        let store = try #require(try await PostgresStoreTests.stores(1).first)
        let referral = ReferralID.make()
        let written = [
            AuditEntry(at: "2026-12-07T12:00:00.000Z", kind: .gatewayStarted, detail: "no actor, no referral"),
            AuditEntry(at: "2026-12-07T12:00:01.000Z", kind: .gatewayStarted, actor: "", detail: ""),
            AuditEntry(
                at: "2026-12-07T12:00:02.000Z", kind: .referralReceived, actor: "gp", referralId: referral, deliveryId: DeliveryID.make(),
                agency: "spa", detail: "every field, with 'quotes', a comma, and {braces}"),
        ]
        try await store.appendAudit(written)
        let events = try await store.auditEvents(afterSequence: 0, limit: 10)
        #expect(events.map(\.actor) == [nil, "", "gp"])
        #expect(events.map(\.referralId) == [nil, nil, referral])
        #expect(events.map(\.deliveryId?.rawValue) == [nil, nil, written[2].deliveryId?.rawValue])
        #expect(events.map(\.agency) == [nil, nil, "spa"])
        #expect(events.map(\.detail) == written.map(\.detail))
        #expect(try await store.verifyAudit() == .intact(events: 3, head: events[2].hash))
    }

    @Test func gatewaysWritingAtOnceDoNotWaitForEachOtherAndTheChainIsWhole() async throws {
        let stores = try await PostgresStoreTests.stores(3)
        // Three gateways write 40 changes each while two of them sequence as their services would.
        let sequencing = stores.prefix(2).map { store in Task { await store.runSequencer() } }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, store) in stores.enumerated() {
                group.addTask {
                    for change in 0..<40 {
                        try await store.appendAudit([self.entry("gateway \(index) change \(change)"), self.entry("and its second")])
                    }
                }
            }
            try await group.waitForAll()
        }
        for task in sequencing { task.cancel() }
        let events = try await stores[2].auditEvents(afterSequence: 0, limit: 1_000)
        #expect(events.count == 240 && events.map(\.sequence) == Array(1...240))
        // Each gateway's changes keep the order it wrote them in.
        for index in 0..<3 {
            let mine = events.filter { $0.detail.hasPrefix("gateway \(index) ") }.map(\.detail)
            #expect(mine == (0..<40).map { "gateway \(index) change \($0)" })
        }
        guard case .intact(let count, _) = try await stores[0].verifyAudit() else {
            Issue.record("the chain does not verify")
            return
        }
        #expect(count == 240)
        #expect(try await stores[1].auditBacklog().events == 0)
    }
}
