import Crypto
import Foundation
import ReferralModel
import Settings
import Synchronization

/// One signed-in person at the console: who they are, the key they signed in with (by digest, so
/// a revoked or expired key ends the session at once), the CSRF token every form carries, and when
/// the session ends.
struct ConsoleSession: Sendable {
    var id: String
    /// The SHA-256 digest of the key the person signed in with; the key itself is never kept.
    var keyDigest: [UInt8]
    var csrfToken: String
    var signedInAt: Date
    var lastSeen: Date
    /// A sentence for the next page the person sees: what their last action did.
    var notice: String? = nil
}

/// Server-side console sessions, held in this gateway's memory: a session ends after
/// `idleTimeout` without a request, `lifetime` after sign-in, on sign-out, or when its key stops
/// working. A restart signs everyone out.
final class ConsoleSessions: Sendable {
    static let cookieName = "switchboard_session"
    /// Holds a sign-in form's CSRF token before there is a session.
    static let signInCookieName = "switchboard_sign_in"

    let idleTimeout: TimeInterval
    let lifetime: TimeInterval
    private let sessions = Mutex<[String: ConsoleSession]>([:])

    init(idleTimeout: TimeInterval = 30 * 60, lifetime: TimeInterval = 8 * 60 * 60) {
        self.idleTimeout = idleTimeout
        self.lifetime = lifetime
    }

    /// A new session for the holder of `keyDigest`.
    func begin(keyDigest: [UInt8], now: Date) -> ConsoleSession {
        let session = ConsoleSession(
            id: Self.randomToken(), keyDigest: keyDigest, csrfToken: Self.randomToken(), signedInAt: now, lastSeen: now)
        sessions.withLock { sessions in
            sessions = sessions.filter { !self.expired($0.value, now: now) }
            sessions[session.id] = session
        }
        return session
    }

    /// The live session with this id, its idle time restarted; nil when there is none or it expired.
    func resume(_ id: String, now: Date) -> ConsoleSession? {
        sessions.withLock { sessions in
            guard var session = sessions[id] else { return nil }
            if expired(session, now: now) {
                sessions[id] = nil
                return nil
            }
            session.lastSeen = now
            sessions[id] = session
            return session
        }
    }

    /// Keeps `text` to show on the session's next page.
    func tell(_ id: String, _ text: String) {
        sessions.withLock { $0[id]?.notice = text }
    }

    /// The sentence kept for this page, once.
    func takeNotice(_ id: String) -> String? {
        sessions.withLock { sessions in
            defer { sessions[id]?.notice = nil }
            return sessions[id]?.notice
        }
    }

    func end(_ id: String) {
        _ = sessions.withLock { $0.removeValue(forKey: id) }
    }

    private func expired(_ session: ConsoleSession, now: Date) -> Bool {
        now.timeIntervalSince(session.lastSeen) > idleTimeout || now.timeIntervalSince(session.signedInAt) > lifetime
    }

    /// 32 random bytes, base64url: a session id or a CSRF token.
    static func randomToken() -> String {
        let bytes = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
        return bytes.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Compares two tokens in time that does not depend on where they differ.
    static func same(_ a: String, _ b: String) -> Bool {
        let left = Array(a.utf8)
        let right = Array(b.utf8)
        guard left.count == right.count else { return false }
        var difference: UInt8 = 0
        for index in left.indices { difference |= left[index] ^ right[index] }
        return difference == 0
    }
}

/// Attempts per client address: `burst` at once, then `perMinute` more each minute, by the
/// gateway's clock.
final class SignInAllowance: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: Date
    }

    let burst: Double
    let perMinute: Double
    private let buckets = Mutex<[String: Bucket]>([:])

    init(burst: Double, perMinute: Double) {
        self.burst = burst
        self.perMinute = perMinute
    }

    /// Nil when `source` may try now (and the try is counted); else the seconds until it may.
    func take(for source: String, now: Date) -> Double? {
        buckets.withLock { buckets in
            if buckets.count > 10_000 { buckets = buckets.filter { now.timeIntervalSince($0.value.updated) < 3_600 } }
            var bucket = buckets[source] ?? Bucket(tokens: burst, updated: now)
            bucket.tokens = min(burst, bucket.tokens + max(0, now.timeIntervalSince(bucket.updated)) * perMinute / 60)
            bucket.updated = now
            defer { buckets[source] = bucket }
            guard bucket.tokens >= 1 else { return (1 - bucket.tokens) * 60 / perMinute }
            bucket.tokens -= 1
            return nil
        }
    }
}

/// Cookies as the console sets and reads them.
enum ConsoleCookies {
    /// The value of cookie `name` in a `Cookie` header.
    static func value(_ name: String, in header: String?) -> String? {
        guard let header else { return nil }
        for part in header.split(separator: ";") {
            let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if pair.count == 2, pair[0] == name { return pair[1] }
        }
        return nil
    }

    /// A `Set-Cookie` value: `HttpOnly`, `SameSite=Strict`, scoped to the console, `Secure` when
    /// the gateway terminates TLS. A nil value clears the cookie.
    static func make(_ name: String, value: String?, maxAge: Int, secure: Bool) -> String {
        var cookie = "\(name)=\(value ?? ""); Path=/console; HttpOnly; SameSite=Strict; Max-Age=\(value == nil ? 0 : maxAge)"
        if secure { cookie += "; Secure" }
        return cookie
    }
}
