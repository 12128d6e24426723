import Audit
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import ReferralModel
import Settings
import Synchronization
import UseCases

/// Checks bearer API keys against the live keys (configured and managed), by digest.
struct Keyring: Sendable {
    let keys: LiveKeys
    let clock: any WallClock

    /// The key a bearer token belongs to, if it is live. Tokens are compared by digest, so no
    /// timing reveals a key.
    func principal(forToken token: String) -> Principal? {
        keys.holder(digest: APIKey.digest(of: token), now: clock.now()).map {
            Principal(
                keyId: $0.id, role: $0.role, organisations: $0.organisations, agency: $0.agency, owner: $0.owner,
                signatureSecret: $0.signatureSecret)
        }
    }
}

/// Checks the Standard Webhooks signature of a request from a key that must sign (401 otherwise).
struct SignedRequests: Sendable {
    let signatures: InboundSignatures

    static let id = HTTPField.Name("webhook-id")!
    static let timestamp = HTTPField.Name("webhook-timestamp")!
    static let signature = HTTPField.Name("webhook-signature")!

    func verify(_ request: Request, body: [UInt8], principal: Principal) async throws {
        guard let secret = principal.signatureSecret else { return }
        do {
            try await signatures.verify(
                keyId: principal.keyId, secret: secret, id: request.headers[Self.id], timestamp: request.headers[Self.timestamp],
                signature: request.headers[Self.signature], body: body)
        } catch let refusal as InboundSignatures.Refusal {
            var headers = HTTPFields()
            headers[.wwwAuthenticate] = "Bearer realm=\"switchboard\""
            throw ProblemResponse(.unauthorised, detail: "Refused: \(refusal.description).", headers: headers)
        }
    }
}

/// Per-key token buckets: `rate` requests a second, saving up at most `burst`. Time is the
/// gateway's clock, so a test that holds the clock still sees exactly the allowance it set.
final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: Date
    }

    private let rate: Double
    private let burst: Double
    private let clock: any WallClock
    private let buckets = Mutex<[String: Bucket]>([:])

    init(rate: Double, burst: Double, clock: any WallClock) {
        self.rate = rate
        self.burst = burst
        self.clock = clock
    }

    /// Nil when the request may go ahead, else the seconds until it could.
    func delay(for key: String) -> Double? {
        let now = clock.now()
        return buckets.withLock { buckets in
            var bucket = buckets[key] ?? Bucket(tokens: burst, updated: now)
            // A wall clock set back refills nothing.
            let seconds = max(0, now.timeIntervalSince(bucket.updated))
            bucket.tokens = min(burst, bucket.tokens + seconds * rate)
            bucket.updated = max(bucket.updated, now)
            defer { buckets[key] = bucket }
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                return nil
            }
            return (1 - bucket.tokens) / rate
        }
    }
}

/// Requires a valid bearer key with one of `roles`. A refusal is counted at the front door, which
/// answers 429 once the client's address is over its allowance of refusals.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = GatewayContext
    let keyring: Keyring
    let limiter: RateLimiter
    let frontDoor: FrontDoor
    let addresses: ClientAddress
    let roles: Set<Role>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let principal = try await authenticate(request, context: context)
        guard roles.contains(principal.role) else {
            throw ProblemResponse(
                .forbidden,
                detail:
                    "The \(principal.role.rawValue) key '\(principal.keyId)' may not \(request.method.rawValue) this path; it needs a \(roles.map(\.rawValue).sorted().joined(separator: " or ")) key."
            )
        }
        if let wait = limiter.delay(for: principal.keyId) {
            throw ProblemResponse(
                .tooManyRequests, detail: "This API key is over its request rate; try again after the Retry-After delay.",
                headers: Self.retryAfter(wait))
        }
        context.principal = principal
        return try await BodyLimitMiddleware.handle(request, context: context, next: next)
    }

    private func authenticate(_ request: Request, context: Context) async throws -> Principal {
        let reason: String
        var challenge = HTTPFields()
        challenge[.wwwAuthenticate] = "Bearer realm=\"switchboard\""
        let detail: String
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" {
                if let principal = keyring.principal(forToken: String(parts[1])) { return principal }
                challenge[.wwwAuthenticate] = "Bearer realm=\"switchboard\", error=\"invalid_token\""
                (reason, detail) = ("unknown API key", "The API key is not recognised.")
            } else {
                (reason, detail) = ("Authorization header is not a bearer token", "The Authorization header must be 'Bearer <key>'.")
            }
        } else {
            (reason, detail) = ("no Authorization header", "Send an API key as 'Authorization: Bearer <key>'.")
        }
        let refusal = frontDoor.refuse(source: addresses.source(peer: context.clientAddress, headers: request.headers), reason: reason)
        await frontDoor.flush()
        if let wait = refusal {
            throw ProblemResponse(
                .tooManyRequests,
                detail: "Too many requests from this address were refused for want of a valid API key; try again after the Retry-After delay.",
                headers: Self.retryAfter(wait))
        }
        throw ProblemResponse(.unauthorised, detail: detail, headers: challenge)
    }

    static func retryAfter(_ wait: Double) -> HTTPFields {
        var headers = HTTPFields()
        headers[.retryAfter] = String(max(1, Int(wait.rounded(.up))))
        return headers
    }
}
