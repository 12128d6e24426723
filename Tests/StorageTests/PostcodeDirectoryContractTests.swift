import Audit
import Foundation
import Storage
import Testing

/// The postcode directory's contract, held by every store: an import is invisible until it is
/// finished, then replaces the previous directory whole, with its audit event in the chain.
@Suite struct PostcodeDirectoryContractTests {
    func info(_ source: String, postcodes: Int) -> PostcodeDirectoryInfo {
        PostcodeDirectoryInfo(
            importedAt: Date(timeIntervalSince1970: 1_795_000_000), importedBy: "test", source: source, postcodes: postcodes, localAuthorities: 2)
    }

    @Test(arguments: StoreKind.allCases) func anImportIsInvisibleUntilFinishedThenReplacesTheOldOneWhole(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        #expect(try await store.postcodeDirectory() == nil)
        #expect(try await store.localAuthorities(of: "OX1 2JD") == [])

        let first = try await store.beginPostcodeImport()
        try await store.addPostcodes(
            [
                PostcodePlace(postcode: "OX1 2JD", localAuthorities: ["E07000178", "E10000025"]),
                PostcodePlace(postcode: "RG1 1AA", localAuthorities: ["E06000038"]),
            ], toImport: first)
        #expect(try await store.localAuthorities(of: "OX1 2JD") == [], "staged postcodes are not live")
        let audit = AuditEntry(at: "2026-11-25T10:00:00.000Z", kind: .directoryImported, actor: "test", detail: "first")
        try await store.finishPostcodeImport(first, info: info("first.csv", postcodes: 2), audit: [audit])
        #expect(try await store.localAuthorities(of: "OX1 2JD") == ["E07000178", "E10000025"])
        #expect(try await store.postcodeDirectory() == info("first.csv", postcodes: 2))

        // A second import that is begun but not finished changes nothing; a finished one replaces
        // the first whole: a postcode it leaves out is gone.
        let abandoned = try await store.beginPostcodeImport()
        try await store.addPostcodes([PostcodePlace(postcode: "OX1 2JD", localAuthorities: ["E06000999"])], toImport: abandoned)
        #expect(try await store.localAuthorities(of: "OX1 2JD") == ["E07000178", "E10000025"])
        let second = try await store.beginPostcodeImport()
        try await store.addPostcodes([PostcodePlace(postcode: "RG1 1AA", localAuthorities: ["E06000038"])], toImport: second)
        try await store.finishPostcodeImport(second, info: info("second.csv", postcodes: 1), audit: [audit])
        #expect(try await store.localAuthorities(of: "OX1 2JD") == [])
        #expect(try await store.localAuthorities(of: "RG1 1AA") == ["E06000038"])
        #expect(try await store.postcodeDirectory()?.source == "second.csv")
        let events = try await store.auditEvents(afterSequence: 0, limit: 10)
        #expect(events.map(\.kind) == ["directory.imported", "directory.imported"])
        #expect(try await store.verifyAudit() == .intact(events: 2, head: events[1].hash))
    }
}
