import Audit
import Foundation
import ReferralModel
import Routing
import Settings
import Storage
import SwitchboardTesting
import Synchronization
import Testing
import UseCases

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Counts what a callback was told.
final class Counter: Sendable {
    private let count = Atomic<Int>(0)
    func add() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}

/// Intake over the example agencies and rules, an in-memory store and a clock the test holds.
struct IntakeHarness {
    let store = InMemoryStore()
    let clock: ManualClock
    let intake: ReferralIntake
    let rules: LiveRules
    let accepted: Counter

    init(now: Date = Date(timeIntervalSince1970: 1_795_000_000)) throws {
        clock = ManualClock(now: now)
        let config = repositoryRoot.appendingPathComponent("config")
        let agencies = try AgencyDirectory.load(
            path: config.appendingPathComponent("agencies.yaml").path, adapters: ["json-webhook", "fhir-r4", "bars", "template"])
        let rules = try RuleSet.load(path: config.appendingPathComponent("rules.yaml").path, agencies: agencies, vocabulary: .standard)
        let counter = Counter()
        accepted = counter
        self.rules = LiveRules(rules)
        intake = ReferralIntake(
            decoder: ReferralDecoder(), rules: self.rules, store: store, clock: clock, onAccepted: { counter.add() })
    }

    func example(_ name: String = "referral-falls") throws -> [UInt8] {
        Array(try Data(contentsOf: repositoryRoot.appendingPathComponent("config/examples/\(name).json")))
    }
}

@Suite struct ReferralIntakeTests {
    @Test func aReferralIsRoutedStoredAndAuditedBeforeItIsAcknowledged() async throws {
        let harness = try IntakeHarness()
        let accepted = try await harness.intake.submit(try harness.example(), actor: "gp", idempotencyKey: nil)
        #expect(!accepted.replayed)
        #expect(accepted.receipt.routes.map(\.agency.rawValue) == ["oxford-falls", "oxfordshire-spa"])
        #expect(harness.accepted.value == 1, "the dispatcher is woken once the referral is durable")
        let report = try #require(await harness.store.report(referralId: accepted.receipt.id))
        #expect(report.receivedAt == Timestamp.string(harness.clock.now()))
        #expect(report.history.map(\.event) == ["referral.received", "referral.validated", "referral.routed"])
        #expect(report.history.last?.detail?.hasPrefix("rules version \(accepted.receipt.rulesVersion); rules falls-oxfordshire") == true)
        #expect(report.deliveries.map(\.state) == [.pending, .pending])
    }

    @Test func aBadReferralIsRefusedWithEveryProblemAndNothingIsStored() async throws {
        let harness = try IntakeHarness()
        do {
            _ = try await harness.intake.submit(Array("{\"needs\": [".utf8), actor: "gp", idempotencyKey: nil)
            Issue.record("accepted a body that is not JSON")
        } catch let refusal as ReferralIntake.Refusal {
            guard case .malformed = refusal else {
                Issue.record("\(refusal)")
                return
            }
        }
        var body = String(decoding: try harness.example(), as: UTF8.self)
        body = body.replacingOccurrences(of: "falls-prevention", with: "juggling").replacingOccurrences(of: "\"urgent\"", with: "\"soon\"")
        do {
            _ = try await harness.intake.submit(Array(body.utf8), actor: "gp", idempotencyKey: nil)
            Issue.record("accepted an invalid referral")
        } catch let refusal as ReferralIntake.Refusal {
            guard case .invalid(let issues) = refusal else {
                Issue.record("\(refusal)")
                return
            }
            #expect(Set(issues.map(\.pointer)) == ["/needs/0", "/urgency"])
        }
        #expect(await harness.store.auditEvents(afterSequence: 0, limit: 10).isEmpty)
        #expect(harness.accepted.value == 0)
    }

    @Test func anIdempotencyKeyReplaysTheSameBodyAndRefusesAnother() async throws {
        let harness = try IntakeHarness()
        let first = try await harness.intake.submit(try harness.example(), actor: "gp", idempotencyKey: "k-1")
        let again = try await harness.intake.submit(try harness.example(), actor: "gp", idempotencyKey: "k-1")
        #expect(again.replayed)
        #expect(again.receipt == first.receipt)
        await #expect(throws: ReferralIntake.Refusal.idempotencyConflict) {
            _ = try await harness.intake.submit(try harness.example("referral-crisis"), actor: "gp", idempotencyKey: "k-1")
        }
        // Another referrer's key of the same name is its own.
        let other = try await harness.intake.submit(try harness.example("referral-crisis"), actor: "other-gp", idempotencyKey: "k-1")
        #expect(!other.replayed)
        #expect(harness.accepted.value == 2)
    }

    @Test func aReferrerSeesOnlyItsOwnReferralsAndAnAdministratorSeesAll() async throws {
        let harness = try IntakeHarness()
        let receipt = try await harness.intake.submit(try harness.example(), actor: "gp", idempotencyKey: nil).receipt
        #expect(try await harness.intake.report(referralId: receipt.id, viewer: "gp", role: .referrer)?.id == receipt.id)
        #expect(try await harness.intake.report(referralId: receipt.id, viewer: "other-gp", role: .referrer) == nil)
        #expect(try await harness.intake.report(referralId: receipt.id, viewer: "admin", role: .admin)?.id == receipt.id)
        #expect(try await harness.intake.report(referralId: "../etc/passwd", viewer: "admin", role: .admin) == nil)
    }

    @Test func aReferralSharedWithoutConsentReachesOnlySafeguardingRecipientsAndEachDropIsAudited() async throws {
        let harness = try IntakeHarness()
        var body = String(decoding: try harness.example("referral-safeguarding"), as: UTF8.self)
        body = body.replacingOccurrences(of: #"["safeguarding-adult", "substance-misuse"]"#, with: #"["safeguarding-adult", "befriending"]"#)
        let receipt = try await harness.intake.submit(Array(body.utf8), actor: "police", idempotencyKey: nil).receipt
        #expect(receipt.routes.map(\.agency.rawValue) == ["oxfordshire-mash"])
        let report = try #require(await harness.store.report(referralId: receipt.id))
        let withheld = report.history.filter { $0.event == "referral.withheld" }
        #expect(withheld.map(\.agency) == ["oxfordshire-befriending"])
        #expect(
            withheld.first?.detail
                == "withheld from oxfordshire-befriending (rule befriending-oxfordshire): consent refused; shared only with safeguarding recipients")
        #expect(report.deliveries.map(\.agency.rawValue) == ["oxfordshire-mash"])
    }
}
