import Audit
import Foundation
import ReferralModel
import Storage
import Testing

/// A record of one referral of `urgency` for `agency`, accepted at `at`.
func record(urgency: Urgency, agency: AgencyID = "crisis", at: Date) -> IntakeRecord {
    var intake = record(agencies: [agency], at: at)
    intake.referral.urgency = urgency
    return intake
}

/// What every store promises about urgency: the lease order within a lane, the attention list's
/// order and counts, the deliveries waiting on a stopped lane, and the closed loop's new steps.
@Suite struct UrgencyContractTests {
    @Test(arguments: StoreKind.allCases) func withinALaneEmergenciesGoFirstAndNothingStarves(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        // Accepted (and so due) at different times: a routine job two hours overdue, an urgent and an
        // emergency one due now, and a routine one due a minute ago.
        let waitedLong = record(urgency: .routine, at: now.addingTimeInterval(-7_200))
        let urgent = record(urgency: .urgent, at: now.addingTimeInterval(-1))
        let emergency = record(urgency: .emergency, at: now)
        let recent = record(urgency: .routine, at: now.addingTimeInterval(-60))
        for intake in [recent, urgent, emergency, waitedLong] { _ = try await store.accept(intake) }
        var order: [ReferralID] = []
        for _ in 0..<4 {
            let leased = try await store.leaseDueDeliveries(now: now, lanes: [LaneDemand(agency: "crisis", limit: 1, leaseDuration: 60)])
            order += leased.map(\.referralId)
        }
        // Due time less a head start (emergency an hour, urgent a quarter of one): a routine job that
        // has waited two hours still goes before a new emergency; one that waited a minute goes last.
        #expect(order == [waitedLong, emergency, urgent, recent].map(\.referralId))
    }

    @Test(arguments: StoreKind.allCases) func theAttentionListPutsEmergenciesFirstThenTheSoonestDue(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        func item(_ urgency: Urgency?, due: TimeInterval?, since: TimeInterval) async throws -> String {
            var intake = record(urgency: urgency ?? .routine, at: now.addingTimeInterval(since))
            intake.attention = AttentionItem(
                id: Identifier.make(now: now.addingTimeInterval(since)), referralId: intake.referralId, deliveryId: nil, agency: nil,
                reason: "held: test", since: Timestamp.string(now.addingTimeInterval(since)), urgency: urgency,
                dueAt: due.map { Timestamp.string(now.addingTimeInterval($0)) })
            _ = try await store.accept(intake)
            return intake.attention!.id
        }
        let oldRoutine = try await item(nil, due: nil, since: -90_000)
        let routine = try await item(.routine, due: 86_400, since: -10)
        let urgentLater = try await item(.urgent, due: 7_200, since: -20)
        let urgentSooner = try await item(.urgent, due: 600, since: -5)
        let emergencyOverdue = try await item(.emergency, due: -60, since: -3_660)
        let list = try await store.attention(limit: 10).map(\.id)
        #expect(list == [emergencyOverdue, urgentSooner, urgentLater, routine, oldRoutine])
        let read = try #require(try await store.attention(limit: 10).first)
        #expect(read.urgency == .emergency && read.dueAt == Timestamp.string(now.addingTimeInterval(-60)))
        let summary = Dictionary(uniqueKeysWithValues: try await store.attentionSummary(now: now).map { ($0.urgency, $0) })
        #expect(summary[.emergency] == AttentionSummary(urgency: .emergency, open: 1, overdue: 1))
        #expect(summary[.urgent] == AttentionSummary(urgency: .urgent, open: 2, overdue: 0))
        #expect(summary[.routine] == AttentionSummary(urgency: .routine, open: 2, overdue: 0))
    }

    @Test(arguments: StoreKind.allCases) func urgentDeliveriesWaitingOnAStoppedLaneAreFound(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let emergency = record(urgency: .emergency, at: now)
        let routine = record(urgency: .routine, at: now)
        let elsewhere = record(urgency: .urgent, agency: "spa", at: now)
        for intake in [emergency, routine, elsewhere] { _ = try await store.accept(intake) }
        let waiting = try await store.waitingUrgentDeliveries(agencies: ["crisis"], limit: 10)
        #expect(waiting.map(\.deliveryId) == [emergency.deliveries[0].route.deliveryId], "routine waits; other lanes are not stopped")
        var change = LoopChange(referralId: emergency.referralId, at: now)
        change.escalated = [emergency.deliveries[0].route.deliveryId]
        #expect(try await store.applyLoopChange(change))
        #expect(try await store.waitingUrgentDeliveries(agencies: ["crisis"], limit: 10).isEmpty, "each is looked at once")
    }

    @Test(arguments: StoreKind.allCases) func aReturnedDeliveryIsAmendedAndGoesBackToItsAgency(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let intake = record(urgency: .urgent, at: now)
        _ = try await store.accept(intake)
        let delivery = intake.deliveries[0].route.deliveryId
        let leased = try await store.leaseDueDeliveries(now: now, lanes: [LaneDemand(agency: "crisis", limit: 1, leaseDuration: 60)])
        _ = try await store.finish(leased[0], result: .delivered(agencyReference: nil), audit: [], now: now)
        var back = LoopChange(referralId: intake.referralId, at: now)
        back.transition = .init(deliveryId: delivery, from: [.delivered], to: .returned, declineReason: .insufficientInformation)
        #expect(try await store.applyLoopChange(back))
        #expect(try await store.report(referralId: intake.referralId)?.status == .returned)
        var amended = intake.referral
        amended.subject.phone = "01865 000000"
        var change = LoopChange(referralId: intake.referralId, at: now.addingTimeInterval(60))
        change.amendedReferral = amended
        change.redelivered = [delivery: now.addingTimeInterval(3_600)]
        #expect(try await store.applyLoopChange(change))
        let loop = try #require(try await store.loopReferral(intake.referralId))
        #expect(loop.referral.subject.phone == "01865 000000")
        #expect(loop.deliveries[0].state == .delivered && loop.deliveries[0].deadlineAt == now.addingTimeInterval(3_600))
    }

    @Test(arguments: StoreKind.allCases) func aDuplicateKeepsTheAgencysOwnReference(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let intake = record(urgency: .routine, at: now)
        _ = try await store.accept(intake)
        let leased = try await store.leaseDueDeliveries(now: now, lanes: [LaneDemand(agency: "crisis", limit: 1, leaseDuration: 60)])
        _ = try await store.finish(leased[0], result: .delivered(agencyReference: nil), audit: [], now: now)
        var change = LoopChange(referralId: intake.referralId, at: now)
        change.transition = .init(
            deliveryId: intake.deliveries[0].route.deliveryId, from: [.delivered], to: .declined, declineReason: .duplicate,
            agencyReference: "MOSAIC-4471")
        #expect(try await store.applyLoopChange(change))
        let work = try await store.worklist(agency: "crisis", states: nil, limit: 5, before: nil)
        #expect(work.first?.state == .declined)
        let report = try #require(try await store.report(referralId: intake.referralId))
        #expect(report.deliveries[0].declineReason == .duplicate)
        #expect(report.deliveries[0].agencyReference == "MOSAIC-4471", "the referrer sees which case the agency already has")
    }

    @Test(arguments: StoreKind.allCases) func aRequeuedDeadLetterResolvesItsItemAndEscalatesAgainIfItFailsAgain(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let intake = record(urgency: .routine, at: now)
        _ = try await store.accept(intake)
        let delivery = intake.deliveries[0].route.deliveryId
        let lane = [LaneDemand(agency: "crisis", limit: 1, leaseDuration: 60)]
        var leased = try await store.leaseDueDeliveries(now: now, lanes: lane)
        _ = try await store.finish(leased[0], result: .deadLetter(error: "HTTP 422"), audit: [], now: now)
        #expect(try await store.dueEscalations(now: now, limit: 5).map(\.deliveryId) == [delivery])
        var change = LoopChange(referralId: intake.referralId, at: now)
        change.escalated = [delivery]
        change.openAttention = AttentionItem(
            id: Identifier.make(now: now), referralId: intake.referralId, deliveryId: delivery, agency: "crisis", reason: "dead-lettered",
            since: Timestamp.string(now), urgency: .routine)
        #expect(try await store.applyLoopChange(change))
        let requeued = try await store.requeue(.deliveries([delivery]), now: now) {
            AuditEntry(at: Timestamp.string(now), kind: .deliveryRequeued, actor: "ops", referralId: $0.referralId, detail: "requeued")
        }
        #expect(requeued.count == 1)
        #expect(try await store.attention(limit: 5).isEmpty, "the operator acted on it")
        let trail = try await store.auditEvents(afterSequence: 0, limit: 50)
        #expect(trail.last?.kind == AuditKind.attentionResolved.rawValue && trail.last?.actor == "ops")
        leased = try await store.leaseDueDeliveries(now: now, lanes: lane)
        _ = try await store.finish(leased[0], result: .deadLetter(error: "HTTP 422"), audit: [], now: now)
        #expect(try await store.dueEscalations(now: now, limit: 5).map(\.deliveryId) == [delivery], "failing again, it escalates again")
    }
}
