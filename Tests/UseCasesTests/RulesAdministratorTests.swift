import Audit
import Delivery
import Foundation
import Logging
import ReferralModel
import Routing
import Settings
import Storage
import SwitchboardTesting
import Testing
import UseCases

/// Agencies validated as start-up would validate them (here only their file's own checks) and
/// installed by recording what the dispatcher would be handed.
final class RecordingInstaller: AgencyInstaller, @unchecked Sendable {
    private let lock = NSLock()
    private var installed: [[String]] = []
    var installs: [[String]] { lock.withLock { installed } }

    func validate(_ text: String, file: String) throws(ConfigError) -> AgencyDirectory {
        try AgencyDirectory.parse(text, file: file, adapters: ["json-webhook", "fhir-r4", "bars", "template", "portal"])
    }

    func install(_ agencies: AgencyDirectory) async throws {
        lock.withLock { installed.append(agencies.agencies.map(\.id.rawValue)) }
    }

    func testDelivery(agency: AgencyID, proposedAgencies text: String) async throws -> PingResult? {
        let directory = try validate(text, file: "agencies.yaml")
        guard let target = directory[agency] else { return nil }
        return PingResult(
            agency: agency, endpoint: target.endpoint, status: 204, outcome: "accepted", milliseconds: 3, tls: true, signed: false,
            webhookId: "msg_test")
    }
}

/// Changing the rules over the in-memory store and a manual clock: a change made against an old
/// version is refused, history is never rewritten, and where a second administrator must approve,
/// nothing (a rollback included) goes live until another approves it.
@Suite struct RulesAdministratorTests {
    let store: any SwitchboardStore = InMemoryStore()
    let clock = ManualClock(now: Date(timeIntervalSince1970: 1_800_000_000))
    let rules: RuleSet
    let path: String
    let text: String

    init() throws {
        let config = repositoryRoot.appendingPathComponent("config")
        let agencies = try AgencyDirectory.load(
            path: config.appendingPathComponent("agencies.yaml").path, adapters: ["json-webhook", "fhir-r4", "bars", "template"])
        text = try String(contentsOf: config.appendingPathComponent("rules.yaml"), encoding: .utf8)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-rules-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        path = folder.appendingPathComponent("rules.yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        rules = try RuleSet.load(path: path, agencies: agencies, vocabulary: .standard)
    }

    func administrator(approval: Set<GovernedDocument> = []) async throws -> RulesAdministrator {
        let administrator = RulesAdministrator(
            live: LiveRules(rules), store: store, vocabulary: .standard, path: path, approvalRequired: approval, clock: clock,
            logger: Logger(label: "test"))
        try await administrator.recordStartUp()
        return administrator
    }

    @Test func aChangeMadeAgainstAnOldVersionIsRefusedAndARollbackIsANewVersion() async throws {
        let administrator = try await administrator()
        let first = administrator.live.current.rules.version
        let applied = try await administrator.apply(text + "\n# reviewed by the board\n", ifMatch: [first], actor: "Ada")
        #expect(applied.applied && applied.record.number == 2)
        do {
            _ = try await administrator.apply(text + "\n# another\n", ifMatch: [first], actor: "Ben")
            Issue.record("a change made against version 1 went live over version 2")
        } catch RulesAdministrator.Refusal.stale(let live) {
            #expect(live == applied.record.version)
        }
        guard case .live(let outcome) = try await administrator.rollback(to: 1, ifMatch: [applied.record.version], actor: "Ben") else {
            Issue.record("the rollback was proposed where no approval is required")
            return
        }
        #expect(outcome.record.number == 3 && outcome.record.version == first, "version 1's text, live again as version 3")
        #expect(try await administrator.history(of: .rules, limit: 10).map(\.number) == [3, 2, 1])
        #expect(try String(contentsOfFile: path, encoding: .utf8) == text, "the file holds the live text")
    }

    @Test func whereApprovalIsRequiredNothingGoesLiveUntilAnotherAdministratorApproves() async throws {
        let administrator = try await administrator(approval: [.rules])
        let first = administrator.live.current.rules.version
        await #expect(throws: RulesAdministrator.Refusal.self) {
            _ = try await administrator.apply(self.text + "\n# direct\n", ifMatch: ["*"], actor: "Ada")
        }
        let proposed = try await administrator.propose(text + "\n# reviewed\n", to: .rules, ifMatch: [first], actor: "Ada")
        #expect(administrator.live.current.rules.version == first, "a proposal is not live")
        do {
            _ = try await administrator.approve(proposed.proposal.id, actor: "Ada")
            Issue.record("the proposer approved their own change")
        } catch RulesAdministrator.Refusal.sameAdministrator {}
        let approved = try await administrator.approve(proposed.proposal.id, actor: "Ben")
        #expect(administrator.live.current.rules.version == approved.record.version && approved.record.number == 2)

        // Going back is proposed too, and a rejected proposal changes nothing.
        guard case .proposed(let back) = try await administrator.rollback(to: 1, ifMatch: [approved.record.version], actor: "Ada") else {
            Issue.record("a rollback went live without approval")
            return
        }
        #expect(back.proposal.version == first && back.proposal.state == .pending)
        let rejected = try await administrator.reject(back.proposal.id, actor: "Ben", reason: "not yet")
        #expect(rejected.state == .rejected)
        #expect(administrator.live.current.rules.version == approved.record.version)
        let kinds = try await store.auditEvents(afterSequence: 0, limit: 50).map(\.kind)
        #expect(kinds.filter { $0 == AuditKind.changeProposed.rawValue }.count == 2)
        #expect(kinds.contains(AuditKind.changeApproved.rawValue) && kinds.contains(AuditKind.changeRejected.rawValue))
    }

    @Test func anAgenciesChangeIsValidatedInstalledAndTestedBeforeItIsLiveAndAGatewayWithoutAnInstallerRefuses() async throws {
        let installer = RecordingInstaller()
        let agenciesPath = repositoryRoot.appendingPathComponent("config/agencies.yaml").path
        let text = try String(contentsOfFile: agenciesPath, encoding: .utf8)
        let copy = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("agencies.yaml").path
        try text.write(toFile: copy, atomically: true, encoding: .utf8)
        let administrator = RulesAdministrator(
            live: LiveRules(rules), store: store, vocabulary: .standard, path: path, agenciesPath: copy, installer: installer, clock: clock,
            logger: Logger(label: "test"))
        try await administrator.recordStartUp()
        let added = text + "\n  - {id: carers-hub, name: Carers Hub, adapter: json-webhook, endpoint: 'https://carers.example.org/in'}\n"

        // Tested as the proposed text describes it, before it is live; audited with who asked.
        let ping = try #require(try await administrator.testDelivery(agency: "carers-hub", proposedAgencies: added, by: "Ada"))
        #expect(ping.endpoint == "https://carers.example.org/in" && ping.outcome == "accepted")
        #expect(try await administrator.testDelivery(agency: "nobody", proposedAgencies: added, by: "Ada") == nil)
        #expect(installer.installs.isEmpty, "a test changes nothing")

        let outcome = try await administrator.apply(added, to: .agencies, ifMatch: ["*"], actor: "Ada")
        #expect(outcome.applied && administrator.live.current.agencies["carers-hub"] != nil)
        #expect(installer.installs.last?.contains("carers-hub") == true, "the dispatcher is handed the new agencies")
        let broken = text + "\n  - {id: plain, name: Plain, adapter: json-webhook, endpoint: 'http://plain.example.org/in'}\n"
        do {
            _ = try await administrator.apply(broken, to: .agencies, ifMatch: ["*"], actor: "Ada")
            Issue.record("an agency that would receive personal data unencrypted went live")
        } catch RulesAdministrator.Refusal.invalid(let issues) {
            #expect(issues.contains { $0.message.contains("would send personal data unencrypted") })
        }
        #expect(installer.installs.count == 1)
        let kinds = try await store.auditEvents(afterSequence: 0, limit: 50).map(\.kind)
        #expect(kinds.filter { $0 == AuditKind.agencyPinged.rawValue }.count == 1 && kinds.contains(AuditKind.agenciesApplied.rawValue))

        let fixed = try await self.administrator()
        await #expect(throws: RulesAdministrator.Refusal.self) {
            _ = try await fixed.testDelivery(agency: "carers-hub", proposedAgencies: added, by: "Ada")
        }
    }
}
