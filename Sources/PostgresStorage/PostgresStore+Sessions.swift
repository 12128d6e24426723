import Foundation
import PostgresNIO
import ReferralModel
import Storage

extension PostgresStore {
    public func beginSession(_ session: StoredSession, forgettingIdleBefore idleBefore: Date, signedInBefore: Date) async throws {
        try await single { connection in
            try await connection.execute(
                """
                DELETE FROM console_sessions WHERE last_seen < \(idleBefore.timeIntervalSince1970)
                  OR signed_in_at < \(signedInBefore.timeIntervalSince1970)
                """)
            try await connection.execute(
                """
                INSERT INTO console_sessions (digest, key_digest, csrf_token, signed_in_at, last_seen, notice, identity)
                VALUES (\(session.digest), \(Hex.encode(session.keyDigest)), \(session.csrfToken), \(session.signedInAt.timeIntervalSince1970),
                        \(session.lastSeen.timeIntervalSince1970), \(session.notice), \(session.identity))
                """)
        }
    }

    public func resumeSession(digest: String, now: Date, touchBefore: Date, idleBefore: Date, signedInBefore: Date) async throws -> StoredSession? {
        try await single { connection in
            guard let row = try await connection.one("SELECT * FROM console_sessions WHERE digest = \(digest)") else { return nil }
            var session = try Self.session(row)
            guard session.lastSeen >= idleBefore, session.signedInAt >= signedInBefore else {
                try await connection.execute("DELETE FROM console_sessions WHERE digest = \(digest)")
                return nil
            }
            if session.lastSeen < touchBefore {
                session.lastSeen = now
                try await connection.execute(
                    "UPDATE console_sessions SET last_seen = GREATEST(last_seen, \(now.timeIntervalSince1970)) WHERE digest = \(digest)")
            }
            return session
        }
    }

    public func setSessionNotice(digest: String, notice: String?) async throws {
        try await single { connection in
            try await connection.execute("UPDATE console_sessions SET notice = \(notice) WHERE digest = \(digest)")
        }
    }

    public func endSession(digest: String) async throws {
        try await single { connection in try await connection.execute("DELETE FROM console_sessions WHERE digest = \(digest)") }
    }

    static func session(_ row: PGRow) throws -> StoredSession {
        let digest: String = try row("digest")
        guard let keyDigest = Hex.decode(try row("key_digest")) else {
            throw StoredValueUnreadable(table: "console_sessions", row: String(digest.prefix(12)), column: "key_digest")
        }
        return StoredSession(
            digest: digest, keyDigest: keyDigest, csrfToken: try row("csrf_token"),
            signedInAt: Date(timeIntervalSince1970: try row("signed_in_at")), lastSeen: Date(timeIntervalSince1970: try row("last_seen")),
            notice: try row("notice"), identity: try row("identity"))
    }
}
