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

/// Making, revoking and rotating API keys over the in-memory store and a manual clock: every
/// problem at once and nothing stored, a key shown once and working at once, a rotation's overlap
/// ending when the clock says, a revocation at once, each audited with who did it.
@Suite struct KeyAdministrationTests {
    let store: any SwitchboardStore = InMemoryStore()
    let clock = ManualClock(now: Date(timeIntervalSince1970: 1_800_000_000))
    let keys = LiveKeys(configured: [APIKey(id: "ops-admin", role: .admin, digest: APIKey.digest(of: "configured-secret"))])
    let administration: KeyAdministration

    init() throws {
        let config = repositoryRoot.appendingPathComponent("config")
        let agencies = try AgencyDirectory.load(
            path: config.appendingPathComponent("agencies.yaml").path, adapters: ["json-webhook", "fhir-r4", "bars", "template"])
        let rules = try RuleSet.load(path: config.appendingPathComponent("rules.yaml").path, agencies: agencies, vocabulary: .standard)
        administration = KeyAdministration(store: store, keys: keys, rules: LiveRules(rules), clock: clock)
    }

    @Test func aRequestWithProblemsIsRefusedWithEveryProblemAndNothingIsStored() async throws {
        let request = KeyAdministration.Request(
            id: "Not An Id", owner: " ", role: "agency", organisations: ["not-ods"], agency: "no-such-agency",
            expiresAt: clock.now().addingTimeInterval(-1))
        do {
            _ = try await administration.create(request, by: "Ada")
            Issue.record("a key was made from a request with problems")
        } catch KeyAdministration.Refusal.invalid(let issues) {
            #expect(Set(issues.map(\.pointer)) == ["/id", "/owner", "/organisations", "/organisations/0", "/agency", "/expiresAt"])
        }
        await #expect(throws: KeyAdministration.Refusal.taken("ops-admin")) {
            _ = try await administration.create(
                .init(id: "ops-admin", owner: "X", role: "admin", organisations: nil, agency: nil, expiresAt: nil), by: "Ada")
        }
        #expect(try await store.managedKeys().isEmpty)
        #expect(try await store.auditEvents(afterSequence: 0, limit: 10).isEmpty)
    }

    @Test func aKeyWorksAtOnceItsRotationOverlapEndsByTheClockAndARevocationIsImmediate() async throws {
        let made = try await administration.create(
            .init(id: "gp-portal", owner: "Botley Medical Centre", role: "referrer", organisations: ["K84001"], agency: nil, expiresAt: nil),
            by: "Ada")
        #expect(made.key.hasPrefix("sbk_") && made.details.source == "managed")
        #expect(keys.holder(digest: APIKey.digest(of: made.key), now: clock.now())?.id == "gp-portal")
        #expect(try await store.managedKeys().first?.digest == APIKey.digest(of: made.key), "only the digest is stored")

        let rotated = try await administration.rotate("gp-portal", overlap: 3_600, by: "Ben")
        #expect(rotated.key != made.key)
        #expect(keys.holder(digest: APIKey.digest(of: made.key), now: clock.now()) != nil, "the old secret works during the overlap")
        clock.advance(by: 3_601)
        #expect(keys.holder(digest: APIKey.digest(of: made.key), now: clock.now()) == nil, "and not after it")
        #expect(keys.holder(digest: APIKey.digest(of: rotated.key), now: clock.now()) != nil)

        #expect(try await administration.revoke("gp-portal", by: "Cy").state == "revoked")
        #expect(keys.holder(digest: APIKey.digest(of: rotated.key), now: clock.now()) == nil)
        await #expect(throws: KeyAdministration.Refusal.notFound) { _ = try await administration.revoke("gp-portal", by: "Cy") }
        await #expect(throws: KeyAdministration.Refusal.configured("ops-admin")) { _ = try await administration.revoke("ops-admin", by: "Cy") }

        let events = try await store.auditEvents(afterSequence: 0, limit: 10)
        #expect(events.map(\.kind) == [AuditKind.keyCreated, .keyRotated, .keyRevoked].map(\.rawValue))
        #expect(events.map(\.actor) == ["Ada", "Ben", "Cy"])
        #expect(!events.contains { $0.detail.contains(made.key) || $0.detail.contains(rotated.key) }, "no secret in the record")
    }
}
