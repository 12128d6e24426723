import Audit
import Foundation
import ReferralModel
import Storage
import Testing

/// Finding a person's referrals (subject access) by blind index, the same in every store.
@Suite struct PersonalRecordContractTests {
    func stored(_ store: any SwitchboardStore, nhsNumber: String?, familyName: String, birthDate: String, at: Date) async throws -> ReferralID {
        var intake = record(agencies: ["spa"], at: at)
        intake.referral.subject.nhsNumber = nhsNumber
        intake.referral.subject.familyName = familyName
        intake.referral.subject.birthDate = birthDate
        _ = try await store.accept(intake)
        return intake.referralId
    }

    @Test(arguments: StoreKind.allCases) func aPersonIsFoundByNHSNumberOrByNameAndBirthDateAndNobodyElse(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        let start = Date()
        let first = try await stored(store, nhsNumber: "9990000034", familyName: "O'Brien", birthDate: "1941-03-14", at: start)
        let namesake = try await stored(store, nhsNumber: "9990000026", familyName: "OBrien", birthDate: "1950-01-01", at: start + 1)
        let later = try await stored(store, nhsNumber: "999 000 0034", familyName: "o brien", birthDate: "1941-03-14", at: start + 2)
        let noNumber = try await stored(store, nhsNumber: nil, familyName: "O’Brien", birthDate: "1941-03-14", at: start + 3)

        #expect(try await store.referralIds(about: .nhsNumber("999-000-0034")) == [first, later])
        #expect(try await store.referralIds(about: .person(familyName: "OBRIEN", birthDate: "1941-03-14")) == [first, later, noNumber])
        #expect(try await store.referralIds(about: .person(familyName: "OBrien", birthDate: "1950-01-01")) == [namesake])
        #expect(try await store.referralIds(about: .nhsNumber("9990000018")).isEmpty)
        #expect(try await store.referralIds(about: .nhsNumber("12345")).isEmpty)

        // Corrected details are found by the new ones, not the old.
        var corrected = try #require(try await store.loopReferral(later)).referral
        corrected.subject.familyName = "Marchetti"
        var change = LoopChange(referralId: later, at: start + 4)
        change.amendedReferral = corrected
        #expect(try await store.applyLoopChange(change))
        #expect(try await store.referralIds(about: .person(familyName: "Marchetti", birthDate: "1941-03-14")) == [later])
        #expect(try await store.referralIds(about: .person(familyName: "O'Brien", birthDate: "1941-03-14")) == [first, noNumber])

        // Once a referral's personal data is removed under retention, it is not found.
        let closing = try #require(try await store.report(referralId: first)).deliveries.map(\.deliveryId)
        var withdrawn = LoopChange(referralId: first, at: start + 5)
        withdrawn.withdrawn = closing
        #expect(try await store.applyLoopChange(withdrawn))
        let pruned = try await store.pruneClosedReferrals(receivedBefore: start + 0.5, at: start + 20) { count in
            AuditEntry(at: Timestamp.string(start + 20), kind: .referralsPruned, actor: "test", detail: "\(count) pruned")
        }
        #expect(pruned == 1)
        #expect(try await store.referralIds(about: .nhsNumber("9990000034")) == [later])
        #expect(try await store.referralIds(about: .person(familyName: "O'Brien", birthDate: "1941-03-14")) == [noNumber])
    }

    @Test(arguments: StoreKind.allCases) func erasureLeavesNothingToReadOrFindAndKeepsTheStoryAndTheChain(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        let intake = try await storePersonalData(in: store)
        let other = sealableRecord(agency: "falls")
        _ = try await store.accept(other)
        let withdrawn = try await store.eraseReferral(intake.referralId, at: Date()) { withdrawn in
            [
                AuditEntry(
                    at: Timestamp.string(Date()), kind: .referralErased, actor: "ig", referralId: intake.referralId, detail: "\(withdrawn.count)")
            ]
        }
        #expect(withdrawn == [], "its one delivery was dead-lettered, not waiting")
        #expect(try await store.loopReferral(intake.referralId) == nil)
        #expect(try await store.notes(referralId: intake.referralId).isEmpty)
        #expect(try await store.originalMessage(referralId: intake.referralId) == nil)
        #expect(try await store.deadLetters(agency: "spa", limit: 10).map(\.agencyReply) == [nil])
        #expect(try await store.referralIds(about: .nhsNumber(sealedNHSNumber)) == [other.referralId])
        let report = try #require(try await store.report(referralId: intake.referralId))
        #expect(report.deliveries.map(\.state) == [.deadLettered] && report.history.last?.event == "referral.erased")
        #expect(try await store.auditEvents(referralId: intake.referralId).last?.kind == "referral.erased")
        // The other referral about the same person is untouched, and waiting deliveries are withdrawn when it goes.
        #expect(try await store.loopReferral(other.referralId)?.referral.subject.familyName == sealedName)
        let second = try await store.eraseReferral(other.referralId, at: Date()) { _ in [] }
        #expect(second == other.routes.map(\.deliveryId))
        #expect(try await store.lease(now: Date().addingTimeInterval(60), limit: 10, agencies: ["falls"]).isEmpty)
        #expect(try await store.eraseReferral(other.referralId, at: Date()) { _ in [] } == nil, "nothing is left to erase")
        guard case .intact = try await store.verifyAudit() else {
            Issue.record("erasure broke the audit chain")
            return
        }
    }
}
