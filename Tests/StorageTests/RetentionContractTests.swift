import Audit
import Foundation
import ReferralModel
import Storage
import Testing

/// Retention, held by every store: only closed referrals older than the cut-off lose their
/// personal data; ids, deliveries and the audit chain stay.
@Suite struct RetentionContractTests {
    @Test(arguments: StoreKind.allCases) func onlyClosedReferralsBeforeTheCutOffArePruned(_ kind: StoreKind) async throws {
        let store = try kind.make()
        let closed = record()
        let open = record()
        _ = try await store.accept(closed)
        _ = try await store.accept(open)
        // Every delivery of the first is declined or withdrawn; the second still waits.
        for delivery in closed.routes.map(\.deliveryId) {
            var change = LoopChange(referralId: closed.referralId, at: Date())
            change.withdrawn = [delivery]
            #expect(try await store.applyLoopChange(change))
        }
        let cutoff = closed.receivedAt.addingTimeInterval(3_600)
        let pruned = try await store.pruneClosedReferrals(receivedBefore: cutoff, at: Date()) { count in
            AuditEntry(at: "2026-11-25T10:00:00.000Z", kind: .referralsPruned, actor: "test", detail: "\(count) pruned")
        }
        #expect(pruned == 1)
        #expect(try await store.loopReferral(closed.referralId) == nil, "its personal data is gone")
        #expect(try await store.loopReferral(open.referralId) != nil)
        #expect(try await store.report(referralId: closed.referralId)?.deliveries.map(\.state) == [.withdrawn, .withdrawn], "its story stays")
        guard case .intact = try await store.verifyAudit() else {
            Issue.record("the chain no longer verifies")
            return
        }
        #expect(
            try await store.pruneClosedReferrals(receivedBefore: cutoff, at: Date()) { _ in AuditEntry(at: "x", kind: .referralsPruned, detail: "") }
                == 0)
    }
}
