import Audit
import Foundation
import PostgresNIO
import ReferralModel
import Storage

extension PostgresStore {
    public func auditTreeSize() async throws -> Int64 {
        // Leaves are stored a whole batch at a time from 0, so the last one's position says the size:
        // one step down the primary key, where a count would read every leaf each interval.
        try await single { session in
            try await session.one("SELECT COALESCE(MAX(position) + 1, 0) AS n FROM audit_tree WHERE level = 0").map {
                try $0("n", as: Int64.self)
            } ?? 0
        }
    }

    public func auditTreeNodes(_ nodes: Set<MerkleNode>) async throws -> [MerkleNode: [UInt8]] {
        guard !nodes.isEmpty else { return [:] }
        let levels = nodes.map { Int32($0.level) }
        let positions = nodes.map(\.position)
        return try await single { session in
            var found: [MerkleNode: [UInt8]] = [:]
            for row in try await session.rows(
                """
                SELECT t.level, t.position, t.hash FROM audit_tree t
                JOIN unnest(\(levels)::integer[], \(positions)::bigint[]) AS asked(level, position)
                  ON t.level = asked.level AND t.position = asked.position
                """)
            {
                found[MerkleNode(level: Int(try row("level", as: Int32.self)), position: try row("position"))] = Array(try row("hash", as: Data.self))
            }
            return found
        }
    }

    public func addAuditTreeNodes(_ nodes: [(node: MerkleNode, hash: [UInt8])]) async throws {
        guard !nodes.isEmpty else { return }
        let levels = nodes.map { Int32($0.node.level) }
        let positions = nodes.map(\.node.position)
        // Hex: PostgresNIO encodes no array of bytea.
        let hashes = nodes.map { Hex.encode($0.hash) }
        try await write { session in
            try await session.execute(
                """
                INSERT INTO audit_tree (level, position, hash)
                SELECT l, p, decode(h, 'hex') FROM unnest(\(levels)::integer[], \(positions)::bigint[], \(hashes)::text[]) AS t(l, p, h)
                ON CONFLICT DO NOTHING
                """)
        }
    }
}
