import Audit
import Foundation
import ReferralModel
import Testing

/// The Merkle tree and signed notes against the published reference vectors: the Certificate
/// Transparency test tree (RFC 6962's reference implementation) and golang.org/x/mod/sumdb/note's
/// PeterNeumann key.
@Suite struct TransparencyLogTests {
    static let leaves: [[UInt8]] = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"].map {
        Hex.decode($0) ?? []
    }
    static let roots = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]

    /// Every node of a tree of `leaves`, as the store would hold them.
    static func tree(_ leaves: [[UInt8]]) -> (edge: MerkleEdge, nodes: [MerkleNode: [UInt8]]) {
        var edge = MerkleEdge()
        var nodes: [MerkleNode: [UInt8]] = [:]
        for leaf in leaves {
            for (node, hash) in edge.append(leaf: MerkleTree.leafHash(leaf)) { nodes[node] = hash }
        }
        return (edge, nodes)
    }

    static func hex(_ ranges: [Range<Int64>], _ nodes: [MerkleNode: [UInt8]]) -> [String] {
        ranges.map { Hex.encode(MerkleTree.hash(of: $0, nodes: nodes) ?? []) }
    }

    @Test func theRootOfEachSizeIsTheReferenceTreesRoot() {
        #expect(Hex.encode(MerkleEdge().root) == Self.roots[0])
        for size in 1...8 {
            let (edge, nodes) = Self.tree(Array(Self.leaves.prefix(size)))
            #expect(Hex.encode(edge.root) == Self.roots[size], "size \(size)")
            // The same root from the stored nodes alone, as a proof is served.
            #expect(Hex.encode(MerkleTree.hash(of: 0..<Int64(size), nodes: nodes) ?? []) == Self.roots[size])
            // And an edge rebuilt from the store carries on where the first left off.
            let rebuilt = MerkleEdge(size: Int64(size), nodes: nodes)
            #expect(rebuilt == edge)
        }
    }

    @Test func inclusionAndConsistencyProofsAreTheReferenceProofs() {
        let (_, nodes) = Self.tree(Self.leaves)
        #expect(
            Self.hex(MerkleTree.inclusionRanges(index: 0, size: 8), nodes) == [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ])
        #expect(
            Self.hex(MerkleTree.inclusionRanges(index: 5, size: 8), nodes) == [
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ])
        #expect(
            Self.hex(MerkleTree.inclusionRanges(index: 2, size: 3), nodes) == [
                "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"
            ])
        #expect(
            Self.hex(MerkleTree.consistencyRanges(old: 1, new: 8), nodes) == [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ])
        #expect(
            Self.hex(MerkleTree.consistencyRanges(old: 6, new: 8), nodes) == [
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ])
        #expect(
            Self.hex(MerkleTree.consistencyRanges(old: 2, new: 5), nodes) == [
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ])
        #expect(MerkleTree.consistencyRanges(old: 1, new: 1).isEmpty)
    }

    @Test func everyProofOfEveryTreeUpTo40VerifiesAndAChangedLeafDoesNot() {
        let leaves = (0..<40).map { Array("event \($0)".utf8) }
        let (_, nodes) = Self.tree(leaves)
        for size in Int64(1)...40 {
            let root = MerkleTree.hash(of: 0..<size, nodes: nodes) ?? []
            for index in 0..<size {
                let proof = MerkleTree.inclusionRanges(index: index, size: size).map { MerkleTree.hash(of: $0, nodes: nodes) ?? [] }
                let leaf = MerkleTree.leafHash(leaves[Int(index)])
                #expect(MerkleTree.verifyInclusion(leaf: leaf, index: index, size: size, proof: proof, root: root))
                #expect(
                    !MerkleTree.verifyInclusion(leaf: MerkleTree.leafHash(Array("forged".utf8)), index: index, size: size, proof: proof, root: root))
                if size > 1 {
                    #expect(!MerkleTree.verifyInclusion(leaf: leaf, index: (index + 1) % size, size: size, proof: proof, root: root))
                }
            }
            for old in Int64(1)...size {
                let oldRoot = MerkleTree.hash(of: 0..<old, nodes: nodes) ?? []
                let proof = MerkleTree.consistencyRanges(old: old, new: size).map { MerkleTree.hash(of: $0, nodes: nodes) ?? [] }
                #expect(MerkleTree.verifyConsistency(old: old, new: size, oldRoot: oldRoot, newRoot: root, proof: proof), "\(old) to \(size)")
                if old < size {
                    // A log rewritten under the old checkpoint does not prove consistent with it.
                    let forged = MerkleTree.leafHash(Array("forged".utf8))
                    #expect(!MerkleTree.verifyConsistency(old: old, new: size, oldRoot: forged, newRoot: root, proof: proof))
                }
            }
        }
    }

    @Test func notesAreSignedAndCheckedAsTheReferenceImplementationDoes() throws {
        let signer = try NoteSigner(text: "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")
        #expect(signer.verifierKey == "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
        let text = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
        let note = try signer.sign(text)
        #expect(
            note == text + "\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n")
        let verifier = try NoteVerifier(text: signer.verifierKey)
        #expect(try verifier.open(note).get() == text)
        if case .success = verifier.open(note.replacingOccurrences(of: "cryptography", with: "encryption")) {
            Issue.record("an altered note opened")
        }
        let other = try NoteVerifier(text: try NoteSigner(text: try NoteSigner.generate(name: "PeterNeumann")).verifierKey)
        if case .success = other.open(note) { Issue.record("a note opened with another key of the same name") }
        #expect(throws: NoteKeyError.self) { try NoteSigner(text: "PRIVATE+KEY+PeterNeumann+c74f20a4+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz") }
        #expect(throws: NoteKeyError.self) { try NoteSigner.generate(name: "two words") }
    }

    @Test func aCheckpointNoteNamesItsLogSizeAndRoot() throws {
        let signer = try NoteSigner(text: try NoteSigner.generate(name: "switchboard.example/audit"))
        let root = Hex.decode(Self.roots[8]) ?? []
        let note = try signer.checkpoint(size: 8, root: root)
        #expect(note.hasPrefix("switchboard.example/audit\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\n\u{2014} switchboard.example/audit "))
        let verifier = try NoteVerifier(text: signer.verifierKey)
        #expect(try verifier.checkpoint(note).get() == TreeCheckpoint(origin: "switchboard.example/audit", size: 8, root: root))
        #expect(
            TreeCheckpoint(text: "switchboard.example/audit\n08\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n") == nil,
            "a size is written without leading zeros")
    }
}
