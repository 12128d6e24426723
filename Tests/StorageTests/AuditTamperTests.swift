import Audit
import Crypto
import Foundation
import GRDB
import ReferralModel
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
        #expect(reason(verdict) == "5: event 5 is missing")
    }

    @Test func everyMissingRangeIsNamedNotOnlyTheFirstEvent() async throws {
        // A restore that lost 3 to 4 and 7 to 9 (a report once said "3 to 3").
        let verdict = try await Anchored().verify { try $0.execute(sql: "DELETE FROM audit_events WHERE seq IN (3, 4, 7, 8, 9)") }
        #expect(reason(verdict) == "3: events 3 to 4 are missing; events 7 to 9 are missing")
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
        try forged.append(sequence: 11, hash: String(repeating: "0", count: 64), at: Date())
        #expect(
            reason(try await anchored.verify { _ in }) == "10: checkpoint line 2 is not signed with the audit key: it was forged or the key changed")
    }
}

/// The checkpoint file itself, cut short, emptied, deleted or with a line taken out: each is named,
/// since each checkpoint commits to the one before and events may wait only so long to be anchored.
@Suite struct CheckpointFileTamperTests {
    /// A store with three checkpoints, one after each four events written a day ago.
    func anchored() async throws -> (store: SQLiteStore, file: CheckpointFile) {
        let path = temporaryDatabase()
        let store = try SQLiteStore(path: path)
        let file = CheckpointFile(
            path: URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("checkpoints.log").path,
            secret: AuditTamperTests.key, interval: 60)
        let yesterday = Date().addingTimeInterval(-86_400)
        for batch in 0..<3 {
            for number in 1...4 {
                try await store.appendAudit([
                    AuditEntry(
                        at: Timestamp.string(yesterday.addingTimeInterval(Double(batch * 10 + number))), kind: .gatewayStarted, detail: "\(number)")
                ])
            }
            let head = try #require(try await store.auditHead())
            try file.append(sequence: head.sequence, hash: head.hash, at: yesterday.addingTimeInterval(Double(batch * 10 + 5)))
        }
        return (store, file)
    }

    func lines(_ file: CheckpointFile) throws -> [String] {
        try String(contentsOfFile: file.path, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    func write(_ lines: [String], to file: CheckpointFile) throws {
        try (lines.map { $0 + "\n" }.joined()).write(toFile: file.path, atomically: true, encoding: .utf8)
    }

    func reason(_ verdict: AuditChain.Verdict) -> String {
        if case .broken(let sequence, let reason) = verdict { return "\(sequence): \(reason)" }
        return "intact"
    }

    @Test func anUntouchedFileVerifiesAndEventsNotYetAnchoredAreExpected() async throws {
        let (store, file) = try await anchored()
        #expect(reason(try await store.verifyAudit(against: file)) == "intact")
        // Written a moment ago, not yet anchored: the gateway's next checkpoint will take it.
        try await store.appendAudit([AuditEntry(at: Timestamp.string(Date()), kind: .gatewayStarted, detail: "now")])
        #expect(reason(try await store.verifyAudit(against: file)) == "intact")
        // Ten minutes on, with nothing anchored, it is named.
        #expect(
            reason(try await store.verifyAudit(against: file, now: Date().addingTimeInterval(600))).hasPrefix(
                "13: events 13 to 13 are in no checkpoint"))
    }

    @Test func aLineTakenOutOfTheMiddleIsNamed() async throws {
        let (store, file) = try await anchored()
        var kept = try lines(file)
        kept.remove(at: 1)
        try write(kept, to: file)
        #expect(reason(try await store.verifyAudit(against: file)).contains("checkpoint line 2 was written as line 3"))
    }

    @Test func aFileCutShortIsNamedOnceItsEventsAreOlderThanCheckpointsAreWritten() async throws {
        let (store, file) = try await anchored()
        try write(Array(try lines(file).prefix(1)), to: file)
        #expect(reason(try await store.verifyAudit(against: file)).hasPrefix("5: events 5 to 12 are in no checkpoint"))
    }

    @Test func anEmptiedOrDeletedFileIsNamed() async throws {
        let (store, file) = try await anchored()
        try write([], to: file)
        #expect(reason(try await store.verifyAudit(against: file)).hasPrefix("1: events 1 to 12 are in no checkpoint: the checkpoint file"))
        try FileManager.default.removeItem(atPath: file.path)
        #expect(reason(try await store.verifyAudit(against: file)).contains("is missing or empty"))
    }

    @Test func checkpointsWrittenBeforeTheyWereChainedStillVerifyAndTheChainFollowsOn() async throws {
        let (store, file) = try await anchored()
        // The landed version's lines: each signed alone, no count, no previous.
        let key = SymmetricKey(data: SHA256.hash(data: Array(AuditTamperTests.key.utf8)))
        let legacy = try lines(file).map { line -> String in
            let old = try JSONDecoder().decode(AuditCheckpoint.self, from: Data(line.utf8))
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            return String(decoding: try encoder.encode(AuditCheckpoint(sequence: old.sequence, hash: old.hash, at: old.at, key: key)), as: UTF8.self)
        }
        try write(legacy, to: file)
        #expect(reason(try await store.verifyAudit(against: file)) == "intact")
        try await store.appendAudit([AuditEntry(at: Timestamp.string(Date()), kind: .gatewayStarted, detail: "after the upgrade")])
        let head = try #require(try await store.auditHead())
        try file.append(sequence: head.sequence, hash: head.hash, at: Date())
        #expect(try JSONDecoder().decode(AuditCheckpoint.self, from: Data(try lines(file)[3].utf8)).count == 4)
        #expect(reason(try await store.verifyAudit(against: file)) == "intact")
    }
}
