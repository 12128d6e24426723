import Foundation
import ReferralModel
import Storage
import Testing

/// What every store promises to a replay of recent referrals (`rules impact`): the referrals of a
/// period, as routing saw them, in order of arrival, a page at a time; none whose personal data was erased.
@Suite struct ReplayContractTests {
    @Test(arguments: StoreKind.allCases) func theReferralsOfAPeriodAreReadInOrderAPageAtATimeWithoutErasedOnes(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        var stored: [IntakeRecord] = []
        for hour in 0..<7 {
            var intake = record(agencies: ["spa"], at: start.addingTimeInterval(Double(hour) * 3_600))
            intake.referral.needs = ["need-\(hour)"]
            _ = try await store.accept(intake)
            stored.append(intake)
        }
        _ = try await store.eraseReferral(stored[3].referralId, at: start.addingTimeInterval(8 * 3_600)) { _ in [] }
        let from = start.addingTimeInterval(3_600)
        let to = start.addingTimeInterval(5 * 3_600)
        // Hours 1 to 4 received in the period; hour 3 erased.
        let first = try await store.referralsReceived(from: from, to: to, after: nil, limit: 2)
        #expect(first.map(\.referralId) == [stored[1].referralId, stored[2].referralId])
        let second = try await store.referralsReceived(from: from, to: to, after: first.last?.referralId, limit: 2)
        #expect(second.map(\.referralId) == [stored[4].referralId])
        #expect(try await store.referralsReceived(from: from, to: to, after: second.last?.referralId, limit: 2).isEmpty)
        // As routing saw them: the referral itself, and when it arrived.
        #expect(first.map(\.referral.needs) == [["need-1"], ["need-2"]])
        #expect(first.map { $0.receivedAt.timeIntervalSince1970.rounded() } == [1_800_003_600, 1_800_007_200])
    }
}
