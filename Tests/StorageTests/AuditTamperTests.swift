import Audit
import Foundation
import GRDB
import Storage
import Testing

/// Tampering with a copy of the database, as someone with write access to it could: every kind
/// is named by `verifyAudit(against:)`, the chain checked against checkpoints signed with a key
/// the database does not hold.
@Suite struct AuditTamperTests {
    static let key = String(repeating: "k", count: 40)

    /// A store with ten events, anchored by a checkpoint of its head, and a way to open copies.
    struct Anchored {
        let path: String
        let checkpoints: CheckpointFile

        init() async throws {
            path = temporaryDatabase()
            let store = try SQLiteStore(path: path)
            for number in 1...10 {
                try await store.appendAudit([
                    AuditEntry(at: "2026-11-25T10:00:0\(number % 10).000Z", kind: .gatewayStarted, actor: "gateway", detail: "start \(number)")
                ])
            }
            checkpoints = CheckpointFile(
                path: URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("checkpoints.log").path,
                secret: AuditTamperTests.key)
            let head = try #require(try await store.auditHead())
            try checkpoints.append(sequence: head.sequence, hash: head.hash, at: Date(timeIntervalSince1970: 1_795_000_000))
        }

        /// A copy of the database with `tamper` done to it, checked.
        func verify(after tamper: (Database) throws -> Void) async throws -> AuditChain.Verdict {
            let copy = temporaryDatabase()
            try FileManager.default.createDirectory(at: URL(fileURLWithPath: copy).deletingLastPathComponent(), withIntermediateDirectories: true)
            // Through SQLite's own backup, so the WAL's newest pages come along.
            let source = try DatabaseQueue(path: path)
            let target = try DatabaseQueue(path: copy)
            try source.backup(to: target)
            try target.write(tamper)
            return try await SQLiteStore(path: copy).verifyAudit(against: checkpoints)
        }
    }

    func reason(_ verdict: AuditChain.Verdict) -> String {
        if case .broken(let sequence, let reason) = verdict { return "\(sequence): \(reason)" }
        return "intact"
    }

    @Test func anUntouchedCopyVerifies() async throws {
        let anchored = try await Anchored()
        #expect(reason(try await anchored.verify { _ in }) == "intact")
    }

    @Test func anEditedEventIsNamed() async throws {
        let verdict = try await Anchored().verify { try $0.execute(sql: "UPDATE audit_events SET detail = 'nothing happened' WHERE seq = 4") }
        #expect(reason(verdict) == "4: its content does not match its hash: it was edited")
    }

    @Test func aDeletedMiddleEventIsNamed() async throws {
        let verdict = try await Anchored().verify { try $0.execute(sql: "DELETE FROM audit_events WHERE seq = 5") }
        #expect(reason(verdict) == "5: event 5 is missing or out of order (found 6 in its place)")
    }

    @Test func theNewestEventsDeletedAreNamed() async throws {
        let verdict = try await Anchored().verify { try $0.execute(sql: "DELETE FROM audit_events WHERE seq > 7") }
        #expect(
            reason(verdict).hasPrefix("8: events 8 to 10 are missing: the checkpoint of 2026-11-18T11:06:40.000Z records 10 events, the log has 7"))
    }

    @Test func everyEventDeletedIsNamed() async throws {
        let verdict = try await Anchored().verify { try $0.execute(sql: "DELETE FROM audit_events") }
        #expect(reason(verdict).hasPrefix("1: events 1 to 10 are missing"))
    }

    @Test func aChainRewrittenAndRehashedIsNamed() async throws {
        let verdict = try await Anchored().verify { db in
            // Someone changes event 3 and reseals every event after it: the chain itself verifies.
            var previous = try String.fetchOne(db, sql: "SELECT hash FROM audit_events WHERE seq = 2") ?? ""
            for row in try Row.fetchAll(db, sql: "SELECT * FROM audit_events WHERE seq >= 3 ORDER BY seq") {
                let sequence: Int64 = row["seq"]
                let entry = AuditEntry(
                    at: row["at"], kind: .gatewayStarted, actor: row["actor"], detail: sequence == 3 ? "rewritten" : row["detail"])
                let event = AuditChain.seal(entry, sequence: sequence, previousHash: previous)
                try db.execute(
                    sql: "UPDATE audit_events SET detail = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                    arguments: [event.detail, event.previousHash, event.hash, sequence])
                previous = event.hash
            }
        }
        #expect(reason(verdict) == "10: event 10 is not the one the checkpoint of 2026-11-18T11:06:40.000Z recorded: the chain was rewritten")
    }

    @Test func aForgedCheckpointIsNamed() async throws {
        let anchored = try await Anchored()
        let forged = CheckpointFile(path: anchored.checkpoints.path, secret: String(repeating: "x", count: 40))
        try forged.append(sequence: 3, hash: String(repeating: "0", count: 64), at: Date())
        #expect(
            reason(try await anchored.verify { _ in }) == "10: checkpoint line 2 is not signed with the audit key: it was forged or the key changed")
    }
}
