import Audit
import Foundation
import Logging
import ReferralModel
import Storage
import SwitchboardTesting
import Testing
import UseCases

/// The audit log as a transparency log: integrated as it is anchored, proofs for whoever may read
/// a referral, and signed checkpoints in the checkpoint file.
@Suite struct TransparencyLogUseCaseTests {
    let signer: NoteSigner

    init() throws { signer = try NoteSigner(text: try NoteSigner.generate(name: "switchboard.test/audit")) }

    @Test func aReferralsEventsProveAgainstTheSignedCheckpointAndALaterLogExtendsIt() async throws {
        let harness = try SafetyHarness()
        let log = TransparencyLog(store: harness.store, signer: signer, clock: harness.clock)
        let first = try await harness.submit()
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tlog-\(UUID().uuidString)/checkpoints.log").path
        let verifier = try NoteVerifier(text: signer.verifierKey)
        let file = CheckpointFile(path: path, secret: nil, verifier: verifier)
        let anchor = AuditAnchor(store: harness.store, file: file, log: log, interval: 60, clock: harness.clock, logger: Logger(label: "test"))
        let anchored = try #require(try await anchor.checkpoint())
        let kept = try await log.checkpoint()
        #expect(kept.tree.size == anchored)
        #expect(try file.read().checkpoints.last?.note == kept.note, "the checkpoint file keeps the note the API serves")

        let proofs = try await log.prove(referral: first, reader: .init(keyId: "gp", role: .referrer))
        #expect(proofs.treeSize == anchored && proofs.laterEvents == 0)
        #expect(proofs.events.map(\.event.kind).prefix(3) == ["referral.received", "referral.validated", "referral.routed"])
        for event in proofs.events {
            let leaf = MerkleTree.leafHash(of: event.event)
            let path = event.inclusionProof.compactMap { Data(base64Encoded: $0).map(Array.init) }
            #expect(MerkleTree.verifyInclusion(leaf: leaf, index: event.leafIndex, size: proofs.treeSize, proof: path, root: kept.tree.root))
        }

        // More referrals; the older checkpoint is a prefix of the newer log.
        _ = try await harness.submit(needs: ["befriending"], urgency: .routine)
        _ = try await harness.submit(needs: ["befriending"], urgency: .routine)
        let later = try #require(try await anchor.checkpoint())
        let consistency = try await log.consistency(old: kept.tree.size)
        #expect(consistency.newSize == later)
        #expect(
            MerkleTree.verifyConsistency(
                old: kept.tree.size, new: later, oldRoot: kept.tree.root,
                newRoot: try #require(Data(base64Encoded: consistency.newRootHash).map(Array.init)),
                proof: consistency.proof.compactMap { Data(base64Encoded: $0).map(Array.init) }))
        // Proofs against the kept checkpoint still verify against its root.
        let old = try await log.prove(referral: first, size: kept.tree.size, reader: .init(keyId: "admin", role: .admin))
        #expect(old.rootHash == Data(kept.tree.root).base64EncodedString())
        #expect(try await harness.store.verifyAudit(against: file, now: harness.clock.now()).isIntact)
    }

    @Test func onlyThoseWhoMayReadAReferralAreGivenItsProofs() async throws {
        let harness = try SafetyHarness()
        let log = TransparencyLog(store: harness.store, signer: signer, clock: harness.clock)
        let id = try await harness.submit()
        try await log.integrate()
        for reader in [
            TransparencyLog.Reader(keyId: "someone-else", role: .referrer), .init(keyId: "charity-key", role: .agency, agency: "charity"),
            .init(keyId: "ops", role: .operations),
        ] {
            await #expect(throws: TransparencyLog.Refusal.noSuchReferral) { try await log.prove(referral: id, reader: reader) }
        }
        _ = try await log.prove(referral: id, reader: .init(keyId: "crisis-key", role: .agency, agency: "crisis"))
        _ = try await log.prove(referral: id, reader: .init(keyId: "ig", role: .governance))
        await #expect(throws: TransparencyLog.Refusal.self) { try await log.checkpoint(size: 10_000) }
    }
}

extension AuditChain.Verdict {
    var isIntact: Bool { if case .intact = self { true } else { false } }
}
