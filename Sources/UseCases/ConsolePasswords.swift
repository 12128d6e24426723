import Audit
import Crypto
import Foundation
import ReferralModel
import Storage
import _CryptoExtras

/// Console passwords: a key's holder may set one, to sign in to the console with their key's name
/// and a password they can remember instead of the key itself. Kept as a scrypt hash with its own
/// salt and cost, never the password; the key still governs: a revoked or expired key's password
/// signs no one in.
public struct ConsolePasswords: Sendable {
    /// Why a new password was refused, in words for the person choosing it.
    public struct Refusal: Error, Sendable, Equatable {
        public var reason: String
    }

    let store: any KeyStore & AuditLog
    let keys: LiveKeys
    let clock: any WallClock

    public init(store: any KeyStore & AuditLog, keys: LiveKeys, clock: any WallClock) {
        self.store = store
        self.keys = keys
        self.clock = clock
    }

    public static let minimumLength = 12

    /// Whether the key's holder has set a password.
    public func isSet(keyId: String) async throws -> Bool {
        try await store.consolePassword(keyId: keyId) != nil
    }

    /// Sets the password of the key `keyId`, by its holder (`actor`). Where one is set already,
    /// `current` must be it.
    public func set(_ password: String, current: String?, keyId: String, actor: String) async throws {
        let existing = try await store.consolePassword(keyId: keyId)
        if let existing {
            guard let current, try await Self.matches(current, hash: existing) else {
                throw Refusal(reason: "Your current password is not right, so it was not changed.")
            }
        }
        guard password.count >= Self.minimumLength else {
            throw Refusal(reason: "Choose a password of at least \(Self.minimumLength) characters: three or four unrelated words work well.")
        }
        guard password.count <= 200 else { throw Refusal(reason: "Choose a password of at most 200 characters.") }
        guard password.lowercased() != keyId.lowercased(), Set(password).count >= 4 else {
            throw Refusal(reason: "That password would be easy to guess: choose another.")
        }
        let hash = try await Self.hash(password)
        try await store.setConsolePassword(
            keyId: keyId, hash: hash, at: clock.now(),
            audit: AuditNarrative.keyPasswordSet(at: clock.now(), actor: actor, id: keyId, replaced: existing != nil))
    }

    /// The digest of the live key `keyId` when `password` is its holder's console password; nil
    /// otherwise (no such key, revoked or expired, no password set, or the wrong one). A wrong
    /// name costs the same time as a wrong password, so names cannot be found by timing.
    public func verify(_ password: String, keyId: String) async throws -> [UInt8]? {
        let stored = try await store.consolePassword(keyId: keyId)
        let matched = try await Self.matches(password, hash: stored ?? Self.decoy)
        guard stored != nil, matched, let digest = keys.liveDigest(id: keyId, now: clock.now()) else { return nil }
        return digest
    }

    // scrypt with N = 2^15, r = 8, p = 1: 32 MiB and about a tenth of a second a guess.
    static let cost = (n: 1 << 15, r: 8, p: 1)
    /// A hash no password matches, verified when a name has none, so both take as long.
    static let decoy = "scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

    /// `scrypt$N$r$p$salt$hash`, base64, with a new random salt.
    static func hash(_ password: String) async throws -> String {
        let salt = SymmetricKey(size: .bits128).withUnsafeBytes { Data($0) }
        let derived = try await derive(password, salt: salt, n: cost.n, r: cost.r, p: cost.p)
        return "scrypt$\(cost.n)$\(cost.r)$\(cost.p)$\(salt.base64EncodedString())$\(derived.base64EncodedString())"
    }

    static func matches(_ password: String, hash: String) async throws -> Bool {
        let parts = hash.split(separator: "$").map(String.init)
        guard parts.count == 6, parts[0] == "scrypt", let n = Int(parts[1]), let r = Int(parts[2]), let p = Int(parts[3]),
            let salt = Data(base64Encoded: parts[4]), let expected = Data(base64Encoded: parts[5])
        else { return false }
        let derived = try await derive(password, salt: salt, n: n, r: r, p: p)
        guard derived.count == expected.count else { return false }
        return zip(derived, expected).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// Runs scrypt on a thread of its own: a tenth of a second of work must not hold one of the
    /// few threads every request runs on.
    private static func derive(_ password: String, salt: Data, n: Int, r: Int, p: Int) async throws -> Data {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(
                    with: Result {
                        try KDF.Scrypt.deriveKey(
                            from: Array(password.utf8), salt: salt, outputByteCount: 32, rounds: n, blockSize: r, parallelism: p,
                            maxMemory: 64 << 20
                        ).withUnsafeBytes { Data($0) }
                    })
            }
        }
    }
}
