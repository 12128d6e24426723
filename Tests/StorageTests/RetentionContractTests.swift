import Audit
import Foundation
import ReferralModel
import Storage
import Testing

/// Retention, held by every store: only closed referrals older than the cut-off lose their
/// personal data; ids, deliveries and the audit chain stay.
@Suite struct RetentionContractTests {
    @Test(arguments: StoreKind.allCases) func onlyClosedReferralsBeforeTheCutOffArePruned(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        var closed = record()
        // It came as a FHIR message, kept beside it: personal data too.
        closed.original = OriginalMessage(mediaType: "application/fhir+json", body: Array(#"{"resourceType": "Bundle"}"#.utf8))
        let open = record()
        _ = try await store.accept(closed)
        _ = try await store.accept(open)
        #expect(try await store.originalMessage(referralId: closed.referralId) == closed.original)
        #expect(try await store.originalMessage(referralId: open.referralId) == nil)
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
        #expect(try await store.originalMessage(referralId: closed.referralId) == nil, "and the message it came as")
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

/// Escalation, held by every store: what is overdue or dead-lettered comes up once.
@Suite struct EscalationContractTests {
    @Test(arguments: StoreKind.allCases) func overdueAndDeadLetteredDeliveriesEscalateOnce(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        let now = Date()
        var intake = record(at: now.addingTimeInterval(-7_200))
        intake.deliveries[0].deadlineAt = now.addingTimeInterval(-60)
        intake.deliveries[1].deadlineAt = now.addingTimeInterval(3_600)
        _ = try await store.accept(intake)
        #expect(try await store.dueEscalations(now: now, limit: 10).map(\.deliveryId) == [intake.routes[0].deliveryId])
        var change = LoopChange(referralId: intake.referralId, at: now)
        change.escalated = [intake.routes[0].deliveryId]
        #expect(try await store.applyLoopChange(change))
        #expect(try await store.dueEscalations(now: now, limit: 10).isEmpty, "it escalates once")
        let leased = try await store.lease(now: now, limit: 5).filter { $0.deliveryId == intake.routes[1].deliveryId }
        _ = try await store.finish(leased.map { DeliveryCompletion(lease: $0, result: .deadLetter(error: "HTTP 404"), audit: [], at: now) })
        let due = try await store.dueEscalations(now: now, limit: 10)
        #expect(due.map(\.deliveryId) == [intake.routes[1].deliveryId], "a dead letter escalates before its deadline")
        #expect(due.first?.state == .deadLettered)
    }
}
