import Audit
import Foundation
import ReferralModel
import Storage
import Testing

/// Managed API keys, held by every store the same way: ids unique, a revocation once, a rotation
/// only of a live key, each change committed with its audit event; digests only.
@Suite struct KeyStoreContractTests {
    func entry(_ text: String) -> AuditEntry {
        AuditEntry(at: "2026-11-25T10:00:00.000Z", kind: .keyCreated, actor: "admin", detail: text)
    }

    @Test(arguments: StoreKind.allCases) func aConsolePasswordHashIsKeptPerKeyAndReplacedWithItsAuditEvent(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        let now = Date(timeIntervalSince1970: 1_795_000_000)
        #expect(try await store.consolePassword(keyId: "charity-staff") == nil)
        try await store.setConsolePassword(keyId: "charity-staff", hash: "scrypt$1$1$1$a$b", at: now, audit: entry("set"))
        try await store.setConsolePassword(keyId: "other", hash: "scrypt$1$1$1$c$d", at: now, audit: entry("set"))
        try await store.setConsolePassword(keyId: "charity-staff", hash: "scrypt$1$1$1$e$f", at: now, audit: entry("changed"))
        #expect(try await store.consolePassword(keyId: "charity-staff") == "scrypt$1$1$1$e$f")
        #expect(try await store.consolePassword(keyId: "other") == "scrypt$1$1$1$c$d")
        #expect(try await store.auditEvents(afterSequence: 0, limit: 10).map(\.detail) == ["set", "set", "changed"])
    }

    @Test(arguments: StoreKind.allCases) func keysAreMadeRevokedAndRotatedOnceEachAndAudited(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        let now = Date(timeIntervalSince1970: 1_795_000_000)
        let first = ManagedKey(
            id: "gp-portal", owner: "Dr Ada Example", role: "referrer", digest: Array(repeating: 1, count: 32), organisations: ["K84001"],
            createdAt: now, createdBy: "admin", expiresAt: now.addingTimeInterval(86_400))
        #expect(try await store.createKey(first, audit: entry("made")))
        var clash = first
        clash.digest = Array(repeating: 2, count: 32)
        #expect(try await store.createKey(clash, audit: entry("again")) == false, "an id is taken once")
        let second = ManagedKey(
            id: "spa-system", owner: "SPA case system", role: "agency", digest: Array(repeating: 3, count: 32), agency: "oxfordshire-spa",
            createdAt: now.addingTimeInterval(1), createdBy: "admin")
        #expect(try await store.createKey(second, audit: entry("made")))
        #expect(try await store.managedKeys() == [first, second])

        let rotated = try await store.rotateKey(
            id: "gp-portal", digest: Array(repeating: 4, count: 32), at: now, previousValidUntil: now.addingTimeInterval(60)
        ) { self.entry("rotated \($0.id)") }
        #expect(rotated?.digest == Array(repeating: 4, count: 32))
        #expect(rotated?.previousDigest == Array(repeating: 1, count: 32) && rotated?.previousExpiresAt == now.addingTimeInterval(60))
        let expiredRotation = try await store.rotateKey(
            id: "gp-portal", digest: Array(repeating: 5, count: 32), at: now.addingTimeInterval(90_000), previousValidUntil: now
        ) { self.entry("rotated \($0.id)") }
        #expect(expiredRotation == nil, "an expired key is not rotated")

        let revoked = try await store.revokeKey(id: "spa-system", at: now, by: "Bea Admin") { self.entry("revoked \($0.id)") }
        #expect(revoked?.revokedBy == "Bea Admin" && revoked?.revokedAt == now)
        #expect(try await store.revokeKey(id: "spa-system", at: now, by: "Bea Admin") { self.entry("revoked \($0.id)") } == nil)
        #expect(try await store.revokeKey(id: "nobody", at: now, by: "Bea Admin") { self.entry("revoked \($0.id)") } == nil)
        #expect(
            try await store.rotateKey(id: "spa-system", digest: [9], at: now, previousValidUntil: now) { self.entry("rotated \($0.id)") } == nil,
            "a revoked key is not rotated")
        let details = try await store.auditEvents(afterSequence: 0, limit: 100).map(\.detail)
        #expect(details == ["made", "made", "rotated gp-portal", "revoked spa-system"])
    }
}
