import Audit
import Foundation
import Logging
import ReferralModel
import Routing
import Settings
import Storage
import SwitchboardTesting
import Testing
import UseCases

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
}
