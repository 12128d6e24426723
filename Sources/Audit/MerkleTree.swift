import Crypto
import ReferralModel

/// A node of the audit log's Merkle tree: the perfect subtree at `level` (0 for a leaf) whose
/// leaves are `position * 2^level ..< (position + 1) * 2^level`. Only complete subtrees are nodes.
public struct MerkleNode: Sendable, Hashable, Codable {
    public var level: Int
    public var position: Int64

    public init(level: Int, position: Int64) {
        self.level = level
        self.position = position
    }

    /// The leaves it covers.
    public var leaves: Range<Int64> { (position << level)..<((position + 1) << level) }
}

/// The audit log as an RFC 6962 (RFC 9162 section 2.1) Merkle tree: leaf `i` is the event with
/// sequence `i + 1`, and the leaf's input is that event's 32-byte hash (`AuditChain.hash(of:)`,
/// which covers every field and the event before). Anyone holding a signed checkpoint (a tree size
/// and root) can check an inclusion proof that an event is in the log, and a consistency proof
/// that a later log extends the one they saw, without the database.
public enum MerkleTree {
    /// The hash of the empty tree: SHA-256 of nothing.
    public static let emptyRoot: [UInt8] = Array(SHA256.hash(data: [UInt8]()))

    /// SHA-256(0x00 || input).
    public static func leafHash(_ input: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: [0])
        hasher.update(data: input)
        return Array(hasher.finalize())
    }

    /// SHA-256(0x01 || left || right).
    public static func nodeHash(_ left: [UInt8], _ right: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: [1])
        hasher.update(data: left)
        hasher.update(data: right)
        return Array(hasher.finalize())
    }

    /// The leaf hash of an event: over its hash as recomputed from its content, so an event edited
    /// in the database no longer proves.
    public static func leafHash(of event: AuditEvent) -> [UInt8] {
        leafHash(Hex.decode(AuditChain.hash(of: event)) ?? [])
    }

    /// The perfect subtrees that make up `range`, left to right, each as large as its alignment
    /// allows. For the ranges RFC 6962 proofs use (and for `0..<size`), the range's hash is these
    /// folded from the right.
    public static func pieces(of range: Range<Int64>) -> [MerkleNode] {
        var pieces: [MerkleNode] = []
        var start = range.lowerBound
        while start < range.upperBound {
            var level = 0
            while start % (Int64(1) << (level + 1)) == 0, start + (Int64(1) << (level + 1)) <= range.upperBound { level += 1 }
            pieces.append(MerkleNode(level: level, position: start >> level))
            start += Int64(1) << level
        }
        return pieces
    }

    /// The hash of `range` from the hashes of its pieces; nil when one is not known.
    public static func hash(of range: Range<Int64>, nodes: [MerkleNode: [UInt8]]) -> [UInt8]? {
        guard !range.isEmpty else { return emptyRoot }
        var folded: [UInt8]?
        for piece in pieces(of: range).reversed() {
            guard let hash = nodes[piece] else { return nil }
            folded = folded.map { nodeHash(hash, $0) } ?? hash
        }
        return folded
    }

    /// The ranges whose hashes make the inclusion proof of leaf `index` in a tree of `size` leaves,
    /// from the leaf's sibling up (RFC 6962 section 2.1.1, PATH).
    public static func inclusionRanges(index: Int64, size: Int64) -> [Range<Int64>] {
        precondition(index >= 0 && index < size)
        func path(_ index: Int64, _ range: Range<Int64>) -> [Range<Int64>] {
            let count = Int64(range.count)
            guard count > 1 else { return [] }
            let split = largestPowerOfTwo(below: count)
            let middle = range.lowerBound + split
            if index < split { return path(index, range.lowerBound..<middle) + [middle..<range.upperBound] }
            return path(index - split, middle..<range.upperBound) + [range.lowerBound..<middle]
        }
        return path(index, 0..<size)
    }

    /// The ranges whose hashes make the consistency proof from a tree of `old` leaves to one of
    /// `new` (RFC 6962 section 2.1.2, PROOF); empty when `old` is 0 or equals `new`.
    public static func consistencyRanges(old: Int64, new: Int64) -> [Range<Int64>] {
        precondition(old >= 0 && old <= new)
        guard old > 0, old < new else { return [] }
        func subproof(_ old: Int64, _ range: Range<Int64>, _ complete: Bool) -> [Range<Int64>] {
            let count = Int64(range.count)
            if old == count { return complete ? [] : [range] }
            let split = largestPowerOfTwo(below: count)
            let middle = range.lowerBound + split
            if old <= split { return subproof(old, range.lowerBound..<middle, complete) + [middle..<range.upperBound] }
            return subproof(old - split, middle..<range.upperBound, false) + [range.lowerBound..<middle]
        }
        return subproof(old, 0..<new, true)
    }

    static func largestPowerOfTwo(below count: Int64) -> Int64 {
        var split: Int64 = 1
        while split << 1 < count { split <<= 1 }
        return split
    }

    /// Checks an inclusion proof (RFC 9162 section 2.1.3.2): that the leaf hash is leaf `index`
    /// of the tree of `size` leaves whose root is `root`.
    public static func verifyInclusion(leaf: [UInt8], index: Int64, size: Int64, proof: [[UInt8]], root: [UInt8]) -> Bool {
        guard index >= 0, index < size else { return false }
        var result = leaf
        let reachedRoot = walk(proof[...], from: index, last: size - 1) { sibling, onLeft in
            result = onLeft ? nodeHash(sibling, result) : nodeHash(result, sibling)
        }
        return reachedRoot && result == root
    }

    /// Checks a consistency proof (RFC 9162 section 2.1.4.2): that the tree of `new` leaves with
    /// root `newRoot` extends the tree of `old` leaves with root `oldRoot`.
    public static func verifyConsistency(old: Int64, new: Int64, oldRoot: [UInt8], newRoot: [UInt8], proof: [[UInt8]]) -> Bool {
        guard old >= 0, old <= new else { return false }
        if old == new { return proof.isEmpty && oldRoot == newRoot }
        if old == 0 { return proof.isEmpty }
        var path = proof
        if old & (old - 1) == 0 { path.insert(oldRoot, at: 0) }
        guard let first = path.first else { return false }
        var fn = old - 1
        var sn = new - 1
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        var fr = first
        var sr = first
        let reachedRoot = walk(path.dropFirst(), from: fn, last: sn) { sibling, onLeft in
            if onLeft { fr = nodeHash(sibling, fr) }
            sr = onLeft ? nodeHash(sibling, sr) : nodeHash(sr, sibling)
        }
        return reachedRoot && fr == oldRoot && sr == newRoot
    }

    /// RFC 9162's walk up a proof: from the node at `index` in a level whose last node is `last`,
    /// each hash of the path joins on the left or the right; true when the path ends at the root.
    private static func walk(_ path: ArraySlice<[UInt8]>, from index: Int64, last: Int64, join: ([UInt8], _ onLeft: Bool) -> Void) -> Bool {
        var fn = index
        var sn = last
        for sibling in path {
            guard sn != 0 else { return false }
            if fn & 1 == 1 || fn == sn {
                join(sibling, true)
                if fn & 1 == 0 {
                    repeat {
                        fn >>= 1
                        sn >>= 1
                    } while fn & 1 == 0 && fn != 0
                }
            } else {
                join(sibling, false)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0
    }
}

/// The right edge of a growing tree: the roots of its perfect subtrees, largest first. Appending
/// a leaf says which new nodes became complete, so the tree is built in one pass and stored as it
/// grows; the root of any size is the edge folded from the right.
public struct MerkleEdge: Sendable, Equatable {
    public private(set) var size: Int64
    /// The perfect subtrees of `0..<size`, left to right, with their hashes.
    public private(set) var peaks: [(node: MerkleNode, hash: [UInt8])]

    public init() {
        size = 0
        peaks = []
    }

    /// The edge of a tree of `size` leaves from its peaks' hashes (`MerkleTree.pieces(of: 0..<size)`).
    public init?(size: Int64, nodes: [MerkleNode: [UInt8]]) {
        var peaks: [(MerkleNode, [UInt8])] = []
        for piece in MerkleTree.pieces(of: 0..<size) {
            guard let hash = nodes[piece] else { return nil }
            peaks.append((piece, hash))
        }
        self.size = size
        self.peaks = peaks
    }

    /// Adds the next leaf; returns every node it completed, the leaf first.
    @discardableResult
    public mutating func append(leaf: [UInt8]) -> [(node: MerkleNode, hash: [UInt8])] {
        var completed = [(node: MerkleNode(level: 0, position: size), hash: leaf)]
        var top = completed[0]
        while let last = peaks.last, last.node.level == top.node.level {
            peaks.removeLast()
            top = (MerkleNode(level: top.node.level + 1, position: last.node.position >> 1), MerkleTree.nodeHash(last.hash, top.hash))
            completed.append(top)
        }
        peaks.append(top)
        size += 1
        return completed
    }

    /// The tree's root hash.
    public var root: [UInt8] {
        guard var folded = peaks.last?.hash else { return MerkleTree.emptyRoot }
        for peak in peaks.dropLast().reversed() { folded = MerkleTree.nodeHash(peak.hash, folded) }
        return folded
    }

    public static func == (left: MerkleEdge, right: MerkleEdge) -> Bool {
        left.size == right.size && left.peaks.map(\.node) == right.peaks.map(\.node) && left.peaks.map(\.hash) == right.peaks.map(\.hash)
    }
}
