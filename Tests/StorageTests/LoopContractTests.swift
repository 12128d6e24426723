import Audit
import Foundation
import ReferralModel
import Storage
import Testing

/// The closed loop as every store keeps it: of two answers racing for one delivery exactly one is
/// written, worklists are read a page at a time, attention items open and resolve once, notes stay
/// with their referral in the order written.
@Suite struct LoopContractTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    /// A referral for `agency`, delivered to it.
    func delivered(_ store: any SwitchboardStore, agency: AgencyID = "crisis", at offset: TimeInterval = 0) async throws -> IntakeRecord {
        let intake = record(urgency: .routine, agency: agency, at: now.addingTimeInterval(offset))
        _ = try await store.accept(intake)
        let leased = try await store.leaseDueDeliveries(
            now: now.addingTimeInterval(offset), lanes: [LaneDemand(agency: agency, limit: 1, leaseDuration: 60)])
        _ = try await store.finish(try #require(leased.first), result: .delivered(agencyReference: nil), audit: [], now: now)
        return intake
    }

    func answer(_ intake: IntakeRecord, _ state: DeliveryState, by actor: String) -> LoopChange {
        var change = LoopChange(referralId: intake.referralId, at: now)
        change.transition = .init(
            deliveryId: intake.deliveries[0].route.deliveryId, from: [.delivered], to: state,
            declineReason: state == .declined ? .noCapacity : nil)
        change.audit = [
            AuditEntry(
                at: Timestamp.string(now), kind: state == .accepted ? .referralAccepted : .referralDeclined, actor: actor,
                referralId: intake.referralId, detail: "\(state)")
        ]
        return change
    }

    @Test(arguments: StoreKind.allCases) func ofTwoAnswersRacingForOneDeliveryExactlyOneIsWritten(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        for _ in 0..<5 {
            let intake = try await delivered(store)
            let accept = answer(intake, .accepted, by: "duty worker")
            let decline = answer(intake, .declined, by: "team manager")
            async let accepted = store.applyLoopChange(accept)
            async let declined = store.applyLoopChange(decline)
            let (acceptWon, declineWon) = try await (accepted, declined)
            #expect(acceptWon != declineWon, "one answer wins, the other changes nothing")
            let loop = try #require(try await store.loopReferral(intake.referralId))
            #expect(loop.deliveries[0].state == (acceptWon ? .accepted : .declined))
            let answers = try await store.auditEvents(afterSequence: 0, limit: 1_000).filter {
                $0.referralId == intake.referralId && [AuditKind.referralAccepted.rawValue, AuditKind.referralDeclined.rawValue].contains($0.kind)
            }
            #expect(answers.map(\.actor) == [acceptWon ? "duty worker" : "team manager"], "only the winner's answer is in the record")
        }
    }

    @Test(arguments: StoreKind.allCases) func aWorklistIsReadNewestFirstAPageAtATimeAndByState(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        var made: [IntakeRecord] = []
        for index in 0..<5 { made.append(try await delivered(store, at: TimeInterval(index))) }
        _ = try await delivered(store, agency: "falls")
        #expect(try await store.applyLoopChange(answer(made[3], .accepted, by: "duty worker")))
        let newestFirst = made.reversed().map { $0.deliveries[0].route.deliveryId }

        var pages: [[DeliveryID]] = []
        var before: DeliveryID?
        repeat {
            let page = try await store.worklist(agency: "crisis", states: nil, limit: 2, before: before).map(\.deliveryId)
            if !page.isEmpty { pages.append(page) }
            before = page.count == 2 ? page.last : nil
        } while before != nil
        #expect(pages == [Array(newestFirst[0..<2]), Array(newestFirst[2..<4]), [newestFirst[4]]], "no delivery twice, none left out")
        let waiting = try await store.worklist(agency: "crisis", states: [.delivered], limit: 10, before: nil)
        #expect(waiting.map(\.deliveryId) == newestFirst.filter { $0 != made[3].deliveries[0].route.deliveryId })
        #expect(waiting.allSatisfy { $0.state == .delivered && $0.urgency == .routine })
        #expect(try await store.worklist(agency: "nobody", states: nil, limit: 10, before: nil).isEmpty)
    }

    @Test(arguments: StoreKind.allCases) func anAttentionItemIsResolvedOnceWithItsNoteAndNotesStayInTheOrderWritten(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        let intake = try await delivered(store)
        let other = try await delivered(store, agency: "falls")
        var decline = answer(intake, .declined, by: "team manager")
        let item = AttentionItem(
            id: Identifier.make(now: now), referralId: intake.referralId, deliveryId: intake.deliveries[0].route.deliveryId, agency: "crisis",
            reason: "declined: no capacity, and no alternative is left", since: Timestamp.string(now), urgency: .routine)
        decline.openAttention = item
        decline.notes = [
            ReferralNote(
                id: Identifier.make(now: now), deliveryId: intake.deliveries[0].route.deliveryId, at: Timestamp.string(now), author: "team manager",
                kind: "declined", text: "No beds this week.")
        ]
        #expect(try await store.applyLoopChange(decline))
        #expect(try await store.attention(limit: 10).map(\.id) == [item.id])
        #expect(try await store.loopReferral(intake.referralId)?.attention?.id == item.id)
        #expect(try await store.loopReferral(other.referralId)?.attention == nil)

        var close = LoopChange(referralId: intake.referralId, at: now.addingTimeInterval(60))
        close.resolveAttention = (id: item.id, by: "Ada Administrator", resolution: "closed")
        close.notes = [
            ReferralNote(
                id: Identifier.make(now: now.addingTimeInterval(60)), deliveryId: nil, at: Timestamp.string(now.addingTimeInterval(60)),
                author: "Ada Administrator", kind: "close", text: "Spoke to her: family support now.")
        ]
        #expect(try await store.applyLoopChange(close))
        #expect(try await store.attention(limit: 10).isEmpty, "a resolved item leaves the list")
        #expect(try await store.loopReferral(intake.referralId)?.attention == nil)
        #expect(try await store.attentionSummary(now: now).allSatisfy { $0.open == 0 })
        #expect(try await store.notes(referralId: intake.referralId).map(\.text) == ["No beds this week.", "Spoke to her: family support now."])
        #expect(try await store.notes(referralId: other.referralId).isEmpty, "notes are their referral's own")
    }
}
