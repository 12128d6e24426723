import Audit
import Foundation
import Logging
import Storage
import SwitchboardTesting
import Testing
import UseCases

/// The gateway anchors the chain's head as it grows, and only when it grew.
@Suite struct AuditAnchorTests {
    @Test func aCheckpointIsWrittenWhenTheHeadMovesAndTheChainVerifiesAgainstIt() async throws {
        let store = InMemoryStore()
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("anchor-\(UUID().uuidString)/checkpoints.log").path
        let file = CheckpointFile(path: path, secret: String(repeating: "s", count: 32))
        let anchor = AuditAnchor(store: store, file: file, interval: 60, clock: ManualClock(), logger: Logger(label: "test"))
        #expect(try await anchor.checkpoint() == nil, "nothing to anchor yet")
        await store.appendAudit([AuditEntry(at: "2026-11-25T10:00:00.000Z", kind: .gatewayStarted, detail: "start")])
        #expect(try await anchor.checkpoint() == 1)
        #expect(try await anchor.checkpoint() == nil, "the head has not moved")
        await store.appendAudit([
            AuditEntry(at: "2026-11-25T10:00:01.000Z", kind: .gatewayStarted, detail: "again"),
            AuditEntry(at: "2026-11-25T10:00:02.000Z", kind: .gatewayStarted, detail: "and again"),
        ])
        #expect(try await anchor.checkpoint() == 3)
        #expect(try file.read().checkpoints.map(\.sequence) == [1, 3])
        let head = try #require(await store.auditHead())
        #expect(try await store.verifyAudit(against: file) == .intact(events: 3, head: head.hash))
    }
}
