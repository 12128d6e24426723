import Audit

extension InMemoryStore {
    public func auditTreeSize() -> Int64 {
        var size: Int64 = 0
        while auditTree[MerkleNode(level: 0, position: size)] != nil { size += 1 }
        return size
    }

    public func auditTreeNodes(_ nodes: Set<MerkleNode>) -> [MerkleNode: [UInt8]] {
        auditTree.filter { nodes.contains($0.key) }
    }

    public func addAuditTreeNodes(_ nodes: [(node: MerkleNode, hash: [UInt8])]) {
        for (node, hash) in nodes where auditTree[node] == nil { auditTree[node] = hash }
    }
}
