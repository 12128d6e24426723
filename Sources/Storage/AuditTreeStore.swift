import Audit

/// The audit log's Merkle tree as integrated so far: every complete node, so an inclusion or
/// consistency proof is a handful of reads however long the log grows. Nodes are derived from the
/// events (which stay the record): `audit verify` rebuilds the tree from the events and never
/// trusts these. Writing the same node twice is harmless, so gateways integrating at once agree.
public protocol AuditTreeStore: Sendable {
    /// How many events are integrated: leaf nodes from 0 with none missing.
    func auditTreeSize() async throws -> Int64

    /// The hashes of the nodes asked for that are stored.
    func auditTreeNodes(_ nodes: Set<MerkleNode>) async throws -> [MerkleNode: [UInt8]]

    /// Stores nodes (with the leaves they complete), in one transaction; a node already stored is kept.
    func addAuditTreeNodes(_ nodes: [(node: MerkleNode, hash: [UInt8])]) async throws
}

extension AuditLog {
    /// The Merkle roots of the log at each of `sizes`, rebuilt from the events themselves (each
    /// leaf from its hash as recomputed from its content), in one pass and constant memory. A size
    /// the log does not reach has no root.
    public func auditRoots(at sizes: Set<Int64>, pageSize: Int = 5_000) async throws -> [Int64: [UInt8]] {
        var roots: [Int64: [UInt8]] = [:]
        var edge = MerkleEdge()
        if sizes.contains(0) { roots[0] = edge.root }
        guard let largest = sizes.max(), largest > 0 else { return roots }
        while edge.size < largest {
            let page = try await auditEvents(afterSequence: edge.size, limit: pageSize)
            for event in page {
                guard event.sequence == edge.size + 1 else { return roots }
                edge.append(leaf: MerkleTree.leafHash(of: event))
                if sizes.contains(edge.size) { roots[edge.size] = edge.root }
                if edge.size == largest { return roots }
            }
            guard page.count == pageSize else { return roots }
        }
        return roots
    }
}
