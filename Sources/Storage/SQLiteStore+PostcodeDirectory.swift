import Audit
import Foundation
import GRDB

extension SQLiteStore {
    public func beginPostcodeImport() async throws -> Int {
        try await writer.perform { db, _ in
            try db.execute(sql: "INSERT INTO postcode_imports (current) VALUES (0)")
            return Int(db.lastInsertedRowID)
        }
    }

    public func addPostcodes(_ places: [PostcodePlace], toImport number: Int) async throws {
        try await writer.perform { db, _ in
            let statement = try db.cachedStatement(sql: "INSERT OR REPLACE INTO postcode_places (postcode, import, authorities) VALUES (?, ?, ?)")
            for place in places {
                try statement.execute(arguments: [place.postcode, number, place.localAuthorities.joined(separator: " ")])
            }
        }
    }

    public func finishPostcodeImport(_ number: Int, info: PostcodeDirectoryInfo, audit: [AuditEntry]) async throws {
        try await writer.perform { db, cursor in
            try db.execute(sql: "UPDATE postcode_imports SET current = 0 WHERE current = 1")
            try db.execute(
                sql: """
                    UPDATE postcode_imports SET current = 1, imported_at = ?, imported_by = ?, source = ?, postcodes = ?, local_authorities = ?
                    WHERE number = ?
                    """,
                arguments: [info.importedAt, info.importedBy, info.source, info.postcodes, info.localAuthorities, number])
            try Self.append(audit, in: db, cursor: &cursor)
        }
        // The imports it replaces (and any left unfinished by a crash) go a batch at a time, so the
        // writer is never held for long.
        while true {
            let removed = try await writer.perform { db, _ in
                try db.execute(
                    sql: """
                        DELETE FROM postcode_places WHERE (postcode, import) IN
                            (SELECT postcode, import FROM postcode_places WHERE import != ? LIMIT 20000)
                        """, arguments: [number])
                return db.changesCount
            }
            if removed == 0 { break }
        }
        try await writer.perform { db, _ in try db.execute(sql: "DELETE FROM postcode_imports WHERE number != ?", arguments: [number]) }
    }

    public func localAuthorities(of postcode: String) async throws -> Set<String> {
        try await pool.read { db in
            let codes = try String.fetchOne(
                db,
                sql: """
                    SELECT authorities FROM postcode_places
                    WHERE postcode = ? AND import = (SELECT number FROM postcode_imports WHERE current = 1)
                    """, arguments: [postcode])
            return Set((codes ?? "").split(separator: " ").map(String.init))
        }
    }

    public func postcodeDirectory() async throws -> PostcodeDirectoryInfo? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM postcode_imports WHERE current = 1").map {
                PostcodeDirectoryInfo(
                    importedAt: $0["imported_at"], importedBy: $0["imported_by"], source: $0["source"], postcodes: $0["postcodes"],
                    localAuthorities: $0["local_authorities"])
            }
        }
    }
}
