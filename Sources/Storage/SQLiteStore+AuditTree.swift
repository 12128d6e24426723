import Audit
import Foundation
import GRDB

extension SQLiteStore {
    public func auditTreeSize() async throws -> Int64 {
        // Leaves are stored a whole batch at a time from 0, so the last one's position says the size:
        // one step down the primary key, where a count would read every leaf each interval.
        try await pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(position) + 1, 0) FROM audit_tree WHERE level = 0") ?? 0
        }
    }

    public func auditTreeNodes(_ nodes: Set<MerkleNode>) async throws -> [MerkleNode: [UInt8]] {
        guard !nodes.isEmpty else { return [:] }
        return try await pool.read { db in
            var found: [MerkleNode: [UInt8]] = [:]
            let statement = try db.cachedStatement(sql: "SELECT hash FROM audit_tree WHERE level = ? AND position = ?")
            for node in nodes {
                if let hash = try Data.fetchOne(statement, arguments: [node.level, node.position]) { found[node] = Array(hash) }
            }
            return found
        }
    }

    public func addAuditTreeNodes(_ nodes: [(node: MerkleNode, hash: [UInt8])]) async throws {
        guard !nodes.isEmpty else { return }
        try await writer.perform { db, _ in
            let statement = try db.cachedStatement(sql: "INSERT OR IGNORE INTO audit_tree (level, position, hash) VALUES (?, ?, ?)")
            for (node, hash) in nodes { try statement.execute(arguments: [node.level, node.position, Data(hash)]) }
        }
    }
}
