import Foundation
import GRDB
import ReferralModel

extension SQLiteStore {
    public func beginSession(_ session: StoredSession, forgettingIdleBefore idleBefore: Date, signedInBefore: Date) async throws {
        try await writer.perform { db, _ in
            try db.execute(
                sql: "DELETE FROM console_sessions WHERE last_seen < ? OR signed_in_at < ?",
                arguments: [idleBefore.timeIntervalSince1970, signedInBefore.timeIntervalSince1970])
            try db.execute(
                sql: """
                    INSERT INTO console_sessions (digest, key_digest, csrf_token, signed_in_at, last_seen, notice, identity)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    session.digest, Hex.encode(session.keyDigest), session.csrfToken, session.signedInAt.timeIntervalSince1970,
                    session.lastSeen.timeIntervalSince1970, session.notice, session.identity,
                ])
        }
    }

    public func resumeSession(digest: String, now: Date, touchBefore: Date, idleBefore: Date, signedInBefore: Date) async throws -> StoredSession? {
        let found = try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM console_sessions WHERE digest = ?", arguments: [digest]).map(Self.session)
        }
        guard var session = found else { return nil }
        guard session.lastSeen >= idleBefore, session.signedInAt >= signedInBefore else {
            try await endSession(digest: digest)
            return nil
        }
        if session.lastSeen < touchBefore {
            session.lastSeen = now
            try await writer.perform { db, _ in
                try db.execute(
                    sql: "UPDATE console_sessions SET last_seen = MAX(last_seen, ?) WHERE digest = ?",
                    arguments: [now.timeIntervalSince1970, digest])
            }
        }
        return session
    }

    public func setSessionNotice(digest: String, notice: String?) async throws {
        try await writer.perform { db, _ in
            try db.execute(sql: "UPDATE console_sessions SET notice = ? WHERE digest = ?", arguments: [notice, digest])
        }
    }

    public func endSession(digest: String) async throws {
        try await writer.perform { db, _ in
            try db.execute(sql: "DELETE FROM console_sessions WHERE digest = ?", arguments: [digest])
        }
    }

    /// A stored session, or an error naming the row when its key digest does not read.
    static func session(_ row: Row) throws -> StoredSession {
        let digest: String = row["digest"]
        guard let keyDigest = Hex.decode(row["key_digest"]) else {
            throw StoredValueUnreadable(table: "console_sessions", row: String(digest.prefix(12)), column: "key_digest")
        }
        return StoredSession(
            digest: digest, keyDigest: keyDigest, csrfToken: row["csrf_token"],
            signedInAt: Date(timeIntervalSince1970: row["signed_in_at"]), lastSeen: Date(timeIntervalSince1970: row["last_seen"]),
            notice: row["notice"], identity: row["identity"])
    }
}
