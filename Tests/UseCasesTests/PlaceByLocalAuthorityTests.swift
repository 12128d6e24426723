import Foundation
import Logging
import ReferralModel
import Routing
import Settings
import Storage
import SwitchboardTesting
import Testing
import UseCases

/// The example deployment with its places named as Oxfordshire County Council's GSS code instead
/// of postcode prefixes: routed through the imported postcode directory, end to end through
/// intake, and refused until a directory is imported.
@Suite struct PlaceByLocalAuthorityTests {
    let store = InMemoryStore()
    let clock = ManualClock(now: Date(timeIntervalSince1970: 1_795_000_000))
    let agencies: AgencyDirectory
    let rules: RuleSet
    let path: String

    init() throws {
        let config = repositoryRoot.appendingPathComponent("config")
        agencies = try AgencyDirectory.load(
            path: config.appendingPathComponent("agencies.yaml").path, adapters: ["json-webhook", "fhir-r4", "bars", "template"])
        let text = try String(contentsOf: config.appendingPathComponent("rules.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "postcode: [OX, RG9, SN7]", with: "local_authority: E10000025")
            .replacingOccurrences(of: "service_area: [OX, RG9, SN7]", with: "service_area: [E10000025]")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-gss-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        path = folder.appendingPathComponent("rules.yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        rules = try RuleSet.load(path: path, agencies: agencies, vocabulary: .standard)
    }

    func administrator() -> RulesAdministrator {
        RulesAdministrator(
            live: LiveRules(rules), store: store, vocabulary: .standard, path: path, clock: clock,
            logger: Logger(label: "test"))
    }

    func referral(at postcode: String) throws -> [UInt8] {
        let example = try String(contentsOf: repositoryRoot.appendingPathComponent("config/examples/referral-falls.json"), encoding: .utf8)
        // Routine: an urgent referral from outside the area is routed anyway (crisis care is owed where the person is).
        return Array(
            example.replacingOccurrences(of: "OX3 9DU", with: postcode).replacingOccurrences(
                of: #""urgency": "urgent""#, with: #""urgency": "routine""#
            )
            .utf8)
    }

    @Test func rulesThatNameALocalAuthorityWaitForADirectory() async throws {
        #expect(rules.localAuthorities == ["E10000025"])
        do {
            try await administrator().recordStartUp()
            Issue.record("the rules went live with no postcode directory")
        } catch RulesAdministrator.Refusal.invalid(let issues) {
            #expect(
                issues.map(\.message) == [
                    "the rules or agencies name local authorities (E10000025), but no postcode directory has been imported"
                ])
            #expect(issues.first?.hint == "import the ONS Postcode Directory first: switchboard directory import ONSPD.csv")
        }
        #expect(try await store.latestRules() == nil, "nothing was stored")
    }

    @Test func henleyIsOxfordshireAndReadingIsNot() async throws {
        _ = try await PostcodeDirectoryImport(store: store, clock: clock).run(file: PostcodeDirectoryImportTests.file, actor: "admin")
        let administrator = administrator()
        try await administrator.recordStartUp()
        let intake = ReferralIntake(decoder: ReferralDecoder(), rules: administrator.live, store: store, clock: clock)
        let henley = try await intake.submit(try referral(at: "RG9 1AA"), actor: "gp", idempotencyKey: nil)
        #expect(henley.receipt.routes.map(\.agency.rawValue) == ["oxford-falls", "oxfordshire-spa"])
        let reading = try await intake.submit(try referral(at: "RG1 1AA"), actor: "gp", idempotencyKey: nil)
        #expect(reading.receipt.status == .outOfArea)
        #expect(reading.receipt.routes.isEmpty, "held: never Oxfordshire's front door")
        let unknown = try await intake.submit(try referral(at: "OX4 9ZZ"), actor: "gp", idempotencyKey: nil)
        #expect(unknown.receipt.status == .outOfArea, "a postcode the directory does not know is held, not guessed")
    }
}
