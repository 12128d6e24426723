import BaRS
import Foundation
import HTTPEdge
import HTTPTypes
import Hummingbird
import NIOCore
import ReferralModel
import UseCases

/// `POST /FHIR/R4/$process-message`: BaRS messages in, answered as the BaRS specification says: 200
/// with a response message Bundle, or an `OperationOutcome` with BaRS error codes and the FHIRPath
/// of every problem. `X-Request-Id` and `X-Correlation-Id` are required and mirrored back.
struct FHIRRoutes: Sendable {
    let messages: ProcessMessage
    let signed: SignedRequests
    /// This gateway's own `$process-message` address, named as the source of its replies.
    let endpoint: String

    static let requestId = HTTPField.Name("X-Request-Id")!
    static let correlationId = HTTPField.Name("X-Correlation-Id")!
    static let fhirJSON = "application/fhir+json"

    func processMessage(_ request: Request, context: GatewayContext) async throws -> Response {
        guard let principal = context.principal else { throw ProblemResponse(.unauthorised, detail: "An API key is required.") }
        var missing: [OutcomeIssue] = []
        for name in [Self.requestId, Self.correlationId] where request.headers[name].map(Self.isUUID) != true {
            missing.append(
                OutcomeIssue(
                    request.headers[name] == nil ? "required" : "value", .badRequest,
                    "The \(name.rawName) header must be a UUID, such as c1ab3fba-6bae-4ba4-b257-5a87c44d4a91."))
        }
        guard missing.isEmpty else { throw OutcomeIssues(missing) }
        try JSONResponse.requireJSON(request, what: "the message", types: [Self.fhirJSON, "application/json"])
        let body = try await request.body.collect(upTo: BodyLimitMiddleware.limit)
        try await signed.verify(request, body: Array(body.readableBytesView), principal: principal)
        let sender = ProcessMessage.Sender(
            keyId: principal.keyId, role: principal.role, organisations: principal.organisations, agency: principal.agency,
            actor: principal.actor)
        let processed = try await messages.process(Array(body.readableBytesView), from: sender, requestId: context.requestId)
        let reply = ReplyMessage.bundle(
            to: processed.message, referralId: processed.referralId.rawValue, status: processed.status, gatewayEndpoint: endpoint, at: Date())
        let bytes = try JSONSerialization.data(withJSONObject: reply, options: [.sortedKeys, .withoutEscapingSlashes])
        context.logger.info(
            "FHIR message processed",
            metadata: [
                "referral": "\(processed.referralId)", "actor": "\(principal.keyId)", "event": "\(processed.message.event.rawValue)",
                "reason": "\(processed.message.reason.rawValue)",
            ])
        var response = Response(status: .ok, headers: [.contentType: Self.fhirJSON], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        response.headers[.location] = "/v1/referrals/\(processed.referralId)"
        return response
    }

    static func isUUID(_ text: String) -> Bool {
        text.utf8.count == 36 && UUID(uuidString: text) != nil
    }
}

/// Answers every error on the FHIR routes as an OperationOutcome (refused keys, rate limits and
/// body limits included), with the caller's `X-Request-Id` and `X-Correlation-Id` mirrored back.
struct OperationOutcomeMiddleware: RouterMiddleware {
    typealias Context = GatewayContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let issues as OutcomeIssues {
            response = Self.outcome(issues, headers: [:])
        } catch let problem as ProblemResponse {
            let type =
                switch problem.problem.status {
                case 401: "login"
                case 403: "forbidden"
                case 413: "too-costly"
                case 429: "throttled"
                case 503: "transient"
                default: "invalid"
                }
            var headers = problem.headers
            headers[.contentType] = nil
            response = Self.outcome(
                OutcomeIssues([OutcomeIssue(type, BaRS.ErrorCode(status: problem.problem.status), problem.problem.detail)]),
                headers: headers, status: problem.problem.status)
        } catch  where StoreAvailability.isUnavailable(error) {
            response = Self.outcome(
                OutcomeIssues([OutcomeIssue("transient", .unavailable, "The gateway cannot store anything just now; nothing was acknowledged.")]),
                headers: [.retryAfter: "30"])
        } catch let error as HTTPError {
            let status = Int(error.status.code)
            response = Self.outcome(
                OutcomeIssues([OutcomeIssue(status == 413 ? "too-costly" : "invalid", BaRS.ErrorCode(status: status), error.body ?? "Refused.")]),
                headers: [:], status: status)
        } catch {
            context.logger.error("Unhandled error", metadata: ["error.type": "\(String(reflecting: type(of: error)))"])
            response = Self.outcome(
                OutcomeIssues([OutcomeIssue("exception", .serverError, "The gateway could not complete the request; it has been logged.")]),
                headers: [:])
        }
        for name in [FHIRRoutes.requestId, FHIRRoutes.correlationId] {
            if let value = request.headers[name], FHIRRoutes.isUUID(value) { response.headers[name] = value }
        }
        return response
    }

    static func outcome(_ issues: OutcomeIssues, headers: HTTPFields, status: Int? = nil) -> Response {
        var fields = headers
        fields[.contentType] = FHIRRoutes.fhirJSON
        return Response(
            status: .init(code: status ?? issues.status), headers: fields,
            body: .init(byteBuffer: ByteBuffer(bytes: OperationOutcome.json(issues.issues))))
    }
}

extension FHIRRoutes {
    /// `/FHIR/R4/$process-message` for referrers' requests and agencies' responses; every refusal,
    /// the guard's included, is an OperationOutcome.
    func collection(_ guards: APIGuard) -> RouteCollection<GatewayContext> {
        let routes = RouteCollection(context: GatewayContext.self)
        routes.add(middleware: OperationOutcomeMiddleware())
        guards.group(routes, [.referrer, .agency]).post("$process-message") { request, context in
            try await processMessage(request, context: context)
        }
        return routes
    }
}
