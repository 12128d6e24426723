import Audit
import Foundation
import GRDB
import ReferralModel
import Storage
import Testing

/// Checkpoints signed only as notes of the Merkle tree (no HMAC key): what someone who can write
/// both the database and the checkpoint file still cannot hide.
@Suite struct SignedCheckpointTests {
    let signer: NoteSigner
    let path = temporaryDatabase()
    let file: CheckpointFile

    init() async throws {
        signer = try NoteSigner(text: try NoteSigner.generate(name: "switchboard.test/audit"))
        file = CheckpointFile(
            path: URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("checkpoints.log").path, secret: nil,
            verifier: try NoteVerifier(text: signer.verifierKey))
        let store = try SQLiteStore(path: path)
        for number in 1...10 {
            try await store.appendAudit([AuditEntry(at: "2026-12-07T10:00:0\(number % 10).000Z", kind: .gatewayStarted, detail: "start \(number)")])
            if number == 5 || number == 10 { try await anchor(store, size: Int64(number)) }
        }
    }

    func anchor(_ store: SQLiteStore, size: Int64) async throws {
        let root = try #require(try await store.auditRoots(at: [size])[size])
        let hash = try #require(try await store.auditEvents(afterSequence: size - 1, limit: 1).first?.hash)
        try file.append(sequence: size, hash: hash, at: Date(), note: try signer.checkpoint(size: size, root: root))
    }

    func reason(_ verdict: AuditChain.Verdict) -> String {
        if case .broken(let sequence, let reason) = verdict { return "\(sequence): \(reason)" }
        return "intact"
    }

    @Test func anUntouchedLogVerifiesAgainstItsSignedNotes() async throws {
        #expect(reason(try await SQLiteStore(path: path).verifyAudit(against: file)) == "intact")
        #expect(try file.read().checkpoints.allSatisfy { $0.mac == nil && $0.note != nil })
    }

    @Test func aChainRewrittenWithItsCheckpointLinesEditedIsStillCaughtByTheSignedRoots() async throws {
        // Event 3 changed and every event after it resealed; the checkpoint lines' unsigned head
        // hashes edited to match. Only the notes, which need the signing key, still disagree.
        let queue = try DatabaseQueue(path: path)
        let heads = try await queue.write { db in
            var heads: [Int64: String] = [:]
            var previous = try String.fetchOne(db, sql: "SELECT hash FROM audit_events WHERE seq = 2") ?? ""
            for row in try Row.fetchAll(db, sql: "SELECT * FROM audit_events WHERE seq >= 3 ORDER BY seq") {
                let sequence: Int64 = row["seq"]
                let entry = AuditEntry(at: row["at"], kind: .gatewayStarted, detail: sequence == 3 ? "rewritten" : row["detail"])
                let event = AuditChain.seal(entry, sequence: sequence, previousHash: previous)
                try db.execute(
                    sql: "UPDATE audit_events SET detail = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                    arguments: [event.detail, event.previousHash, event.hash, sequence])
                previous = event.hash
                heads[sequence] = event.hash
            }
            return heads
        }
        var lines: [String] = []
        for var checkpoint in try file.read().checkpoints {
            checkpoint.hash = heads[checkpoint.sequence] ?? checkpoint.hash
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            lines.append(String(decoding: try encoder.encode(checkpoint), as: UTF8.self))
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: file.path, atomically: true, encoding: .utf8)
        let verdict = reason(try await SQLiteStore(path: path).verifyAudit(against: file))
        #expect(verdict.hasPrefix("5: the events up to 5 are not the ones the signed checkpoint of"), "\(verdict)")
        #expect(verdict.contains("Merkle root differs"))
    }

    @Test func aCheckpointSignedWithAnotherKeyIsNamed() async throws {
        let forger = try NoteSigner(text: try NoteSigner.generate(name: "switchboard.test/audit"))
        try file.append(
            sequence: 11, hash: String(repeating: "0", count: 64), at: Date(), note: try forger.checkpoint(size: 11, root: MerkleTree.emptyRoot))
        let verdict = reason(try await SQLiteStore(path: path).verifyAudit(against: file))
        #expect(
            verdict.contains("checkpoint line 3 has a signed note that does not verify: it carries no signature by switchboard.test/audit"),
            "\(verdict)")
    }

    @Test func theNewestEventsDeletedAreNamed() async throws {
        try await DatabaseQueue(path: path).write { try $0.execute(sql: "DELETE FROM audit_events WHERE seq > 8") }
        let verdict = reason(try await SQLiteStore(path: path).verifyAudit(against: file))
        #expect(verdict.hasPrefix("9: events 9 to 10 are missing"), "\(verdict)")
    }
}

/// The Merkle tree's nodes, the same from every store.
@Suite struct AuditTreeContractTests {
    @Test(arguments: StoreKind.allCases) func nodesAreKeptOnceAndTheSizeCountsTheLeaves(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        #expect(try await store.auditTreeSize() == 0)
        var edge = MerkleEdge()
        var written: [(node: MerkleNode, hash: [UInt8])] = []
        for index in 0..<11 { written += edge.append(leaf: MerkleTree.leafHash(Array("leaf \(index)".utf8))) }
        try await store.addAuditTreeNodes(written)
        #expect(try await store.auditTreeSize() == 11)
        // Written again (another gateway integrating the same events) with different bytes: the first stays.
        try await store.addAuditTreeNodes(written.map { ($0.node, [UInt8](repeating: 7, count: 32)) })
        let asked = Set(MerkleTree.pieces(of: 0..<11) + [MerkleNode(level: 5, position: 0)])
        let found = try await store.auditTreeNodes(asked)
        #expect(found.count == 3, "8 + 2 + 1 are stored; a 32-leaf node is not")
        #expect(MerkleTree.hash(of: 0..<11, nodes: found) == edge.root)
        #expect(MerkleEdge(size: 11, nodes: found) == edge)
    }

    @Test(arguments: StoreKind.allCases) func theRootsRebuiltFromEventsAreTheTreesRoots(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        var edge = MerkleEdge()
        var roots: [Int64: [UInt8]] = [0: edge.root]
        for number in 1...7 {
            try await store.appendAudit([AuditEntry(at: "2026-12-07T10:00:0\(number).000Z", kind: .gatewayStarted, detail: "start \(number)")])
            let event = try #require(try await store.auditEvents(afterSequence: Int64(number - 1), limit: 1).first)
            edge.append(leaf: MerkleTree.leafHash(of: event))
            roots[Int64(number)] = edge.root
        }
        #expect(try await store.auditRoots(at: [0, 3, 7, 9]) == [0: roots[0]!, 3: roots[3]!, 7: roots[7]!])
    }
}
