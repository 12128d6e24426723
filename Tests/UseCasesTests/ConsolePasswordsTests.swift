import Audit
import Foundation
import ReferralModel
import Settings
import Storage
import SwitchboardTesting
import Testing

@testable import UseCases

/// A key holder's console password: kept as a slow hash, checked against it, and worth nothing
/// once the key stops working.
@Suite struct ConsolePasswordsTests {
    let store = InMemoryStore()
    let clock = ManualClock()
    let keys: LiveKeys
    let passwords: ConsolePasswords

    init() {
        keys = LiveKeys(configured: [
            APIKey(id: "charity-staff", role: .agency, digest: APIKey.digest(of: "charity-key"), agency: "befriending")
        ])
        passwords = ConsolePasswords(store: store, keys: keys, clock: clock)
    }

    @Test func aPasswordSignsItsKeysHolderInAndNothingElseDoes() async throws {
        try await passwords.set("violet kettle harbour moss", current: nil, keyId: "charity-staff", actor: "Cara")
        #expect(try await passwords.verify("violet kettle harbour moss", keyId: "charity-staff") == APIKey.digest(of: "charity-key"))
        #expect(try await passwords.verify("violet kettle harbour mass", keyId: "charity-staff") == nil)
        #expect(try await passwords.verify("violet kettle harbour moss", keyId: "someone-else") == nil)
        let hash = try #require(await store.consolePassword(keyId: "charity-staff"))
        #expect(hash.hasPrefix("scrypt$32768$8$1$") && !hash.contains("violet"))
        let events = await store.auditEvents(afterSequence: 0, limit: 10)
        #expect(events.map(\.detail) == ["console password for key charity-staff set by its holder"])
        #expect(events.allSatisfy { !$0.detail.contains("violet") && !$0.detail.contains(hash) })
    }

    @Test func twoPasswordsAreSaltedApart() async throws {
        let first = try await ConsolePasswords.hash("violet kettle harbour moss")
        let second = try await ConsolePasswords.hash("violet kettle harbour moss")
        #expect(first != second)
        #expect(try await ConsolePasswords.matches("violet kettle harbour moss", hash: second))
    }

    @Test func aWeakPasswordIsRefusedAndAChangeNeedsTheCurrentOne() async throws {
        for weak in ["short", "charity-staff", "aaaaaaaaaaaaaaaa"] {
            await #expect(throws: ConsolePasswords.Refusal.self) {
                try await passwords.set(weak, current: nil, keyId: "charity-staff", actor: "Cara")
            }
        }
        try await passwords.set("violet kettle harbour moss", current: nil, keyId: "charity-staff", actor: "Cara")
        await #expect(throws: ConsolePasswords.Refusal(reason: "Your current password is not right, so it was not changed.")) {
            try await passwords.set("amber lantern quiet fox", current: "guess", keyId: "charity-staff", actor: "someone")
        }
        try await passwords.set("amber lantern quiet fox", current: "violet kettle harbour moss", keyId: "charity-staff", actor: "Cara")
        #expect(try await passwords.verify("amber lantern quiet fox", keyId: "charity-staff") != nil)
        #expect(try await passwords.verify("violet kettle harbour moss", keyId: "charity-staff") == nil)
    }

    @Test func aRemovedKeysPasswordSignsNoOneIn() async throws {
        try await passwords.set("violet kettle harbour moss", current: nil, keyId: "charity-staff", actor: "Cara")
        keys.replaceConfigured([])
        #expect(try await passwords.verify("violet kettle harbour moss", keyId: "charity-staff") == nil)
    }
}
