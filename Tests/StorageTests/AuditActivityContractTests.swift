import Audit
import Foundation
import ReferralModel
import Storage
import Testing

/// The counts the console's activity chart draws, the same from every store.
@Suite struct AuditActivityContractTests {
    @Test(arguments: StoreKind.allCases) func eventsAreCountedByHourFromTheHourThatHoldsTheStart(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        let start = Date(timeIntervalSince1970: 1_795_000_000)  // 2026-11-17T...
        func entry(_ hours: Double, _ kind: AuditKind) -> AuditEntry {
            AuditEntry(at: Timestamp.string(start.addingTimeInterval(hours * 3_600)), kind: kind, agency: "spa", detail: "test")
        }
        // Before the window, then two hours of deliveries and failures, with other kinds between.
        try await store.appendAudit([entry(-3, .deliveryAttempted), entry(-3, .deliveryDelivered)])
        try await store.appendAudit([
            entry(0, .deliveryAttempted), entry(0, .deliveryDelivered), entry(0.2, .referralReceived), entry(0.5, .deliveryAttempted),
            entry(1, .deliveryAttempted), entry(1, .deliveryDelivered), entry(1.1, .deliveryAttempted), entry(1.2, .deliveryAttempted),
        ])
        let counts = try await store.auditActivity(since: start, kinds: [.deliveryAttempted, .deliveryDelivered])
        let first = String(Timestamp.string(start).prefix(13))
        let second = String(Timestamp.string(start.addingTimeInterval(3_600)).prefix(13))
        let table = Dictionary(uniqueKeysWithValues: counts.map { ("\($0.hour) \($0.kind)", $0.count) })
        #expect(
            table == [
                "\(first) delivery.attempted": 2, "\(first) delivery.delivered": 1, "\(second) delivery.attempted": 3,
                "\(second) delivery.delivered": 1,
            ])
        #expect(try await store.auditActivity(since: start.addingTimeInterval(86_400), kinds: [.deliveryAttempted]).isEmpty)
        // Counted in the transaction of each change: a delivery result's events count too.
        try await store.appendAudit([entry(1.5, .deliveryAttempted)])
        let again = try await store.auditActivity(since: start, kinds: [.deliveryAttempted])
        #expect(again.map(\.count) == [2, 4])
        #expect(try await kind.make().auditActivity(since: start, kinds: [.deliveryAttempted]).isEmpty, "an empty log counts nothing")
    }
}
