import Foundation
import HTTPTypes
import Hummingbird
import ReferralModel
import Settings
import Synchronization
import UseCases

/// Checks bearer API keys against the live keys (configured and managed), by digest.
public struct Keyring: Sendable {
    let keys: LiveKeys
    let clock: any WallClock

    public init(keys: LiveKeys, clock: any WallClock) {
        self.keys = keys
        self.clock = clock
    }

    /// The key a bearer token belongs to, if it is live. Tokens are compared by digest, so no
    /// timing reveals a key.
    public func principal(forToken token: String) -> Principal? {
        keys.holder(digest: APIKey.digest(of: token), now: clock.now()).map(Principal.init(holder:))
    }
}

/// Per-key token buckets: `rate` requests a second, saving up at most `burst`. Time is the
/// gateway's clock, so a test that holds the clock still sees exactly the allowance it set.
public final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: Date
    }

    private let rate: Double
    private let burst: Double
    private let clock: any WallClock
    private let buckets = Mutex<[String: Bucket]>([:])

    public init(rate: Double, burst: Double, clock: any WallClock) {
        self.rate = rate
        self.burst = burst
        self.clock = clock
    }

    /// Nil when the request may go ahead, else the seconds until it could.
    public func delay(for key: String) -> Double? {
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

/// Requires a valid bearer key and makes its holder the request's principal. A refusal (no key, not
/// a bearer token, an unknown, revoked or expired key) is 401, counted at the front door, which
/// answers 429 instead once the client's address is over its allowance of refusals.
public struct AuthenticationMiddleware: RouterMiddleware {
    public typealias Context = GatewayContext
    let keyring: Keyring
    let frontDoor: FrontDoor
    let addresses: ClientAddress

    public init(keyring: Keyring, frontDoor: FrontDoor, addresses: ClientAddress) {
        self.keyring = keyring
        self.frontDoor = frontDoor
        self.addresses = addresses
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.principal = try await authenticate(request, context: context)
        return try await next(request, context)
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
                headers: ProblemResponse.retryAfter(wait))
        }
        throw ProblemResponse(.unauthorised, detail: detail, headers: challenge)
    }
}

/// Lets through only a principal with one of `roles` (403 otherwise, naming the key and the roles
/// the path needs). Runs after `AuthenticationMiddleware`.
public struct RoleMiddleware: RouterMiddleware {
    public typealias Context = GatewayContext
    let roles: Set<Role>

    public init(_ roles: Set<Role>) { self.roles = roles }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let principal = context.principal else {
            throw ProblemResponse(.unauthorised, detail: "Send an API key as 'Authorization: Bearer <key>'.")
        }
        guard roles.contains(principal.role) else {
            throw ProblemResponse(
                .forbidden,
                detail:
                    "The \(principal.role.rawValue) key '\(principal.keyId)' may not \(request.method.rawValue) this path; it needs a \(roles.map(\.rawValue).sorted().joined(separator: " or ")) key."
            )
        }
        return try await next(request, context)
    }
}

/// Holds each key to its request rate (429 with `Retry-After` past it). Runs after the role check,
/// so a request refused for its role takes nothing from the key's allowance.
public struct RateLimitMiddleware: RouterMiddleware {
    public typealias Context = GatewayContext
    let limiter: RateLimiter

    public init(limiter: RateLimiter) { self.limiter = limiter }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let key = context.principal?.keyId, let wait = limiter.delay(for: key) {
            throw ProblemResponse(
                .tooManyRequests, detail: "This API key is over its request rate; try again after the Retry-After delay.",
                headers: ProblemResponse.retryAfter(wait))
        }
        return try await next(request, context)
    }
}
