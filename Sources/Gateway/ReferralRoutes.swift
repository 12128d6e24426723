import Audit
import Crypto
import Delivery
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ReferralModel
import Routing
import Storage

/// `POST /v1/referrals` and `GET /v1/referrals/{id}`.
struct ReferralRoutes: Sendable {
    let decoder: ReferralDecoder
    /// Read once per referral: the decision, its version and its audit record come from one snapshot.
    let rules: LiveRules
    let store: any ReferralStore
    let dispatcher: Dispatcher?
    let logger: Logger

    static let idempotencyHeader = HTTPField.Name("Idempotency-Key")!

    func submit(_ request: Request, context: GatewayContext) async throws -> Response {
        guard let principal = context.principal else { throw ProblemResponse(.unauthorised, detail: "An API key is required.") }
        try Self.requireJSON(request)
        let body = try await request.body.collect(upTo: BodyLimitMiddleware.limit)
        let bytes = body.readableBytesView
        let claim = try idempotencyClaim(request, body: bytes)
        let receivedAt = Date()
        let referral: Referral
        do {
            referral = try decoder.decode(bytes, today: CalendarDate.string(from: receivedAt))
        } catch .syntax(let error) {
            throw ProblemResponse(.malformedJSON, detail: error.description)
        } catch .invalid(let failure) {
            let count = failure.issues.count
            throw ProblemResponse(
                .invalidReferral, detail: "The referral has \(count) problem\(count == 1 ? "" : "s"); each is listed in errors.",
                errors: failure.issues)
        }
        let decision = rules.current.rules.route(referral, at: receivedAt)
        let referralId = Identifier.make(now: receivedAt)
        let routes = decision.targets.map { Route(agency: $0.agency, rule: $0.rule, deliveryId: Identifier.make(now: receivedAt)) }
        var alternatives: [String: [String]] = [:]
        for (route, target) in zip(routes, decision.targets) where !target.alternatives.isEmpty {
            alternatives[route.deliveryId] = target.alternatives
        }
        let at = Timestamp.string(receivedAt)
        let matched = decision.usedFallback ? "no rule matched; fallback" : "rules " + decision.matchedRules.joined(separator: ", ")
        let audit = [
            AuditEntry(at: at, kind: .referralReceived, actor: principal.keyId, referralId: referralId, detail: "from \(referral.referrer.organisation); \(bytes.count) bytes"),
            AuditEntry(at: at, kind: .referralValidated, actor: principal.keyId, referralId: referralId, detail: "valid against referral v1"),
            AuditEntry(
                at: at, kind: .referralRouted, actor: principal.keyId, referralId: referralId,
                detail: "rules version \(decision.rulesVersion); \(matched); to "
                    + routes.map { route in
                        let then = alternatives[route.deliveryId].map { "; if it declines: " + $0.joined(separator: ", ") } ?? ""
                        return "\(route.agency) (\(route.rule)\(then))"
                    }.joined(separator: ", ")),
        ]
        let record = IntakeRecord(
            referralId: referralId, receivedAt: receivedAt, actor: principal.keyId, referral: referral,
            rulesVersion: decision.rulesVersion, routes: routes, audit: audit, idempotency: claim, alternatives: alternatives)
        let outcome = try await store.accept(record)
        switch outcome {
        case .accepted(let receipt):
            dispatcher?.wake()
            logger.info(
                "Referral accepted",
                metadata: ["referral": "\(receipt.id)", "actor": "\(principal.keyId)", "routes": "\(receipt.routes.count)", "rules": "\(receipt.rulesVersion)"])
            return try accepted(receipt, replayed: false)
        case .replayed(let receipt):
            return try accepted(receipt, replayed: true)
        case .idempotencyConflict:
            throw ProblemResponse(
                .idempotencyConflict,
                detail: "This Idempotency-Key was already used with a different body. Use a new key for a new referral.")
        }
    }

    func show(_ request: Request, context: GatewayContext) async throws -> Response {
        guard let principal = context.principal else { throw ProblemResponse(.unauthorised, detail: "An API key is required.") }
        let id = context.parameters.get("id") ?? ""
        guard Identifier.isWellFormed(id), let report = try await store.report(referralId: id) else {
            throw ProblemResponse(.notFound, detail: "There is no referral with this id.")
        }
        // A referrer sees only the referrals it sent: need to know.
        if principal.role == .referrer, report.submittedBy != principal.keyId {
            throw ProblemResponse(.notFound, detail: "There is no referral with this id.")
        }
        return try Self.json(report, status: .ok)
    }

    private func accepted(_ receipt: SubmissionReceipt, replayed: Bool) throws -> Response {
        var response = Response(
            status: .accepted, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: receipt.canonicalJSON())))
        response.headers[.location] = "/v1/referrals/\(receipt.id)"
        if replayed { response.headers[HTTPField.Name("Idempotent-Replayed")!] = "true" }
        return response
    }

    private func idempotencyClaim(_ request: Request, body: ByteBufferView) throws -> IdempotencyClaim? {
        guard let key = request.headers[Self.idempotencyHeader] else { return nil }
        guard (1...255).contains(key.utf8.count), key.utf8.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E }) else {
            throw ProblemResponse(
                .invalidRequest, detail: "Idempotency-Key must be 1 to 255 visible ASCII characters, such as a UUID.",
                errors: [FieldIssue(pointer: "", detail: "the Idempotency-Key header is not 1 to 255 visible ASCII characters.")])
        }
        let digest = Hex.encode(SHA256.hash(data: Array(body)))
        return IdempotencyClaim(key: key, bodyDigest: digest)
    }

    static func requireJSON(_ request: Request) throws {
        let type = request.headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
        guard type == "application/json" else {
            throw ProblemResponse(
                .unsupportedMediaType, detail: "Send the referral as JSON with 'Content-Type: application/json'.")
        }
    }

    static func json<Value: Encodable>(_ value: Value, status: HTTPResponse.Status) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = try encoder.encode(value)
        return Response(
            status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
