import Audit
import Foundation
import Storage
import SwitchboardTesting
import Testing
import UseCases

/// Importing the ONS Postcode Directory's CSV, from a small synthetic file in its format.
@Suite struct PostcodeDirectoryImportTests {
    static let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/postcodes/ONSPD_SYNTHETIC.csv").path

    @Test func livePostcodesAreImportedWithTheirDistrictAndCounty() async throws {
        let store = InMemoryStore()
        let summary = try await PostcodeDirectoryImport(store: store, clock: ManualClock(), batchSize: 2).run(file: Self.file, actor: "admin")
        #expect(summary.info.postcodes == 5)
        #expect(summary.info.localAuthorities == 5)
        #expect(summary.info.source == "ONSPD_SYNTHETIC.csv")
        #expect(summary.terminated == 1, "RG9 9ZZ was terminated in 2009")
        #expect(summary.skipped == 2)
        #expect(
            summary.firstProblems == [
                "line 8: 'not a postcode' is not a postcode", "line 9: 'Oxford' is not a local authority's GSS code",
            ])
        #expect(await store.localAuthorities(of: "RG9 1AA") == ["E07000179", "E10000025"])
        #expect(await store.localAuthorities(of: "RG1 1AA") == ["E06000038"], "E99999999 is ONS's 'no county'")
        #expect(await store.localAuthorities(of: "RG9 9ZZ") == [])
        let events = await store.auditEvents(afterSequence: 0, limit: 5)
        #expect(events.map(\.kind) == ["directory.imported"])
        #expect(events.first?.detail == "postcode directory ONSPD_SYNTHETIC.csv: 5 postcodes in 5 local authorities, the first imported")
        #expect(events.first?.actor == "admin")
    }

    @Test func aFileThatIsNotTheDirectoryChangesNothing() async throws {
        let store = InMemoryStore()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("onspd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let wrong = folder.appendingPathComponent("referrals.csv").path
        try "name,postcode\nAlan,OX1 2JD\n".write(toFile: wrong, atomically: true, encoding: .utf8)
        await #expect(throws: PostcodeDirectoryImport.Failure.self) {
            try await PostcodeDirectoryImport(store: store).run(file: wrong, actor: "admin")
        }
        do {
            _ = try await PostcodeDirectoryImport(store: store).run(file: wrong, actor: "admin")
        } catch let failure as PostcodeDirectoryImport.Failure {
            #expect(
                failure.description.hasSuffix(
                    "referrals.csv has no postcode column (pcds): is it the ONS Postcode Directory's CSV, with its header line?"))
        }
        #expect(await store.postcodeDirectory() == nil)
        #expect(await store.auditEvents(afterSequence: 0, limit: 5).isEmpty)
    }
}
