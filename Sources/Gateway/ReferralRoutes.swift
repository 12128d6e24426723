import Foundation
import HTTPEdge
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Observability
import ReferralModel
import UseCases

/// `POST /v1/referrals` and `GET /v1/referrals/{id}`: requests into intake calls, outcomes into
/// responses.
struct ReferralRoutes: Sendable {
    let intake: ReferralIntake
    let loop: LoopRoutes
    let logger: Logger
    let signed: SignedRequests

    static let idempotencyHeader = HTTPField.Name("Idempotency-Key")!

    /// `POST /v1/referrals`. Intake counts what it accepts and refuses; what this door turns away
    /// before intake sees it (no key, the wrong media type, too large, a bad signature or
    /// idempotency key) is counted here, so every submission is counted once.
    func submit(_ request: Request, context: GatewayContext) async throws -> Response {
        let principal: Principal
        let body: ByteBuffer
        let key: String?
        do {
            guard let caller = context.principal else { throw ProblemResponse(.unauthorised, detail: "An API key is required.") }
            principal = caller
            try JSONResponse.requireJSON(request)
            body = try await request.body.collect(upTo: BodyLimitMiddleware.limit)
            try await signed.verify(request, body: Array(body.readableBytesView), principal: principal)
            key = try idempotencyKey(request)
        } catch {
            intake.refused(Self.rejection(error))
            throw error
        }
        return try await accept(body, key: key, principal: principal, context: context)
    }

    /// Why the door turned a submission away, in the words the metric takes.
    static func rejection(_ error: any Error) -> IntakeMetrics.Rejection {
        guard let problem = error as? ProblemResponse else { return StoreAvailability.isUnavailable(error) ? .storageUnavailable : .other }
        return switch problem.problem.status {
        case 400: .malformed
        case 401: .unauthorised
        case 403: .forbidden
        case 409: .conflict
        case 413: .tooLarge
        case 415: .unsupportedMediaType
        case 422: .invalid
        case 429: .rateLimited
        default: .other
        }
    }

    private func accept(_ body: ByteBuffer, key: String?, principal: Principal, context: GatewayContext) async throws -> Response {
        let accepted: ReferralIntake.Accepted
        do {
            accepted = try await intake.submit(
                body.readableBytesView, actor: principal.keyId, organisations: principal.organisations, idempotencyKey: key,
                requestId: context.requestId)
        } catch let refusal as ReferralIntake.Refusal {
            throw Self.problem(refusal)
        }
        let receipt = accepted.receipt
        if !accepted.replayed {
            context.logger.info(
                "Referral accepted",
                metadata: [
                    "referral": "\(receipt.id)", "actor": "\(principal.keyId)", "routes": "\(receipt.routes.count)",
                    "rules": "\(receipt.rulesVersion)",
                ])
        }
        var response = Response(
            status: .accepted, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: receipt.canonicalJSON())))
        response.headers[.location] = "/v1/referrals/\(receipt.id)"
        if accepted.replayed { response.headers[HTTPField.Name("Idempotent-Replayed")!] = "true" }
        return response
    }

    func show(_ request: Request, context: GatewayContext) async throws -> Response {
        guard let principal = context.principal else { throw ProblemResponse(.unauthorised, detail: "An API key is required.") }
        let id = context.parameters.get("id") ?? ""
        if principal.role == .agency { return try await loop.view(id, context: context) }
        guard
            let report = try await intake.report(
                referralId: ReferralID(id), viewer: principal.keyId, role: principal.role, organisations: principal.organisations)
        else {
            throw ProblemResponse(.notFound, detail: "There is no referral with this id.")
        }
        return try JSONResponse.make(report, status: .ok)
    }

    static func problem(_ refusal: ReferralIntake.Refusal) -> ProblemResponse {
        switch refusal {
        case .malformed(let description):
            ProblemResponse(.malformedJSON, detail: description)
        case .invalid(let issues):
            ProblemResponse(
                .invalidReferral, detail: "The referral has \(issues.count) problem\(issues.count == 1 ? "" : "s"); each is listed in errors.",
                errors: issues)
        case .idempotencyConflict:
            ProblemResponse(
                .idempotencyConflict,
                detail: "This Idempotency-Key was already used with a different body. Use a new key for a new referral.")
        case .organisationNotAllowed(let claimed, let allowed):
            ProblemResponse(
                .forbidden,
                detail:
                    "This API key may submit referrals for \(allowed.joined(separator: ", ")) only; the referral names \(claimed) as the referring organisation.",
                errors: [FieldIssue(pointer: "/referrer/organisation", detail: "is not an organisation this API key may submit for.")])
        }
    }

    private func idempotencyKey(_ request: Request) throws -> String? {
        guard let key = request.headers[Self.idempotencyHeader] else { return nil }
        guard (1...255).contains(key.utf8.count), key.utf8.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E }) else {
            throw ProblemResponse(
                .invalidRequest, detail: "Idempotency-Key must be 1 to 255 visible ASCII characters, such as a UUID.",
                errors: [FieldIssue(pointer: "", detail: "the Idempotency-Key header is not 1 to 255 visible ASCII characters.")])
        }
        return key
    }
}

extension ReferralRoutes {
    /// `/v1/referrals`: referrers submit, cancel and amend; anyone with a part in a referral reads
    /// it as their role may see it; the agencies it went to answer.
    func collection(_ guards: APIGuard) -> RouteCollection<GatewayContext> {
        let routes = RouteCollection(context: GatewayContext.self)
        let referrer = guards.group(routes, [.referrer])
        referrer.post { request, context in try await submit(request, context: context) }
        referrer.post("{id}/cancel") { request, context in try await loop.cancel(request, context: context) }
        referrer.post("{id}/amendments") { request, context in try await loop.amend(request, context: context) }
        guards.group(routes, [.referrer, .admin, .agency]).get("{id}") { request, context in try await show(request, context: context) }
        guards.group(routes, [.agency]).post("{id}/status") { request, context in try await loop.answer(request, context: context) }
        return routes
    }
}
