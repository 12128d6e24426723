import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ReferralModel
import UseCases

/// An error that answers with a problem+json body, and any extra headers it needs.
public struct ProblemResponse: Error, Sendable {
    public var problem: Problem
    public var headers: HTTPFields

    public init(_ kind: ProblemType, detail: String, errors: [FieldIssue]? = nil, headers: HTTPFields = [:]) {
        problem = Problem(kind, detail: detail, errors: errors)
        self.headers = headers
    }

    public func response() -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = (try? encoder.encode(problem)) ?? Data()
        var fields = headers
        fields[.contentType] = "application/problem+json"
        return Response(
            status: .init(code: problem.status), headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// A `Retry-After` header of `wait` seconds, rounded up, at least one.
    public static func retryAfter(_ wait: Double) -> HTTPFields {
        var headers = HTTPFields()
        headers[.retryAfter] = String(max(1, Int(wait.rounded(.up))))
        return headers
    }
}

/// Turns every error into RFC 9457 problem+json, at the front of the chain: nothing reaches a
/// client as an empty body or HTML. A known path called with a method it does not have is 405 with
/// `Allow`, not 404.
public struct ProblemMiddleware: RouterMiddleware {
    public typealias Context = GatewayContext
    let routes: RouteIndex
    let logger: Logger

    public init(routes: RouteIndex, logger: Logger) {
        self.routes = routes
        self.logger = logger
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await answer(request, context: context, next: next)
        // The FHIR routes mirror the caller's own X-Request-Id, as BaRS requires; every other route names the gateway's.
        if response.headers[Self.requestIdHeader] == nil { response.headers[Self.requestIdHeader] = context.requestId }
        return response
    }

    public static let requestIdHeader = HTTPField.Name("X-Request-Id")!

    private func answer(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let problem as ProblemResponse {
            return problem.response()
        } catch let error as HTTPError where error.status == .notFound {
            let path = request.uri.path
            let allowed = routes.all.filter { $0.matches(path: path) }.map(\.method)
            if !allowed.isEmpty {
                var headers = HTTPFields()
                headers[.allow] = Set(allowed).sorted().joined(separator: ", ")
                return ProblemResponse(
                    .methodNotAllowed, detail: "\(request.method.rawValue) is not allowed on this path.", headers: headers
                ).response()
            }
            return ProblemResponse(.notFound, detail: "There is nothing at this path.").response()
        } catch let error as HTTPError {
            let kind: ProblemType =
                switch error.status.code {
                case 400: .malformedJSON
                case 413: .bodyTooLarge
                case 415: .unsupportedMediaType
                default: .internalError
                }
            if kind == .internalError { logger.error("Unhandled HTTP error", metadata: ["status": "\(error.status.code)"]) }
            return ProblemResponse(kind, detail: error.body ?? kind.title).response()
        } catch  where StoreAvailability.isUnavailable(error) {
            // Nothing was acknowledged; the client should try again, here or at another gateway.
            logger.warning("The store cannot take writes", metadata: ["cause": "\(StoreAvailability.summary(error))"])
            var headers = HTTPFields()
            headers[.retryAfter] = "30"
            return ProblemResponse(
                .storageUnavailable,
                detail:
                    "The gateway cannot store anything just now (\(StoreAvailability.summary(error))); nothing was acknowledged. Try again after the Retry-After delay.",
                headers: headers
            ).response()
        } catch {
            logger.error("Unhandled error", metadata: ["error.type": "\(String(reflecting: type(of: error)))"])
            return ProblemResponse(.internalError, detail: "The gateway could not complete the request; it has been logged.").response()
        }
    }
}

/// Rejects bodies over 1 MiB before reading them where `Content-Length` says so, and while reading
/// them otherwise (chunked), so no handler ever holds more. It runs after authentication, so a
/// request without a valid key never has its body read.
public struct BodyLimitMiddleware: RouterMiddleware {
    public typealias Context = GatewayContext
    public static let limit = 1 << 20

    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let tooLarge = ProblemResponse(.bodyTooLarge, detail: "The body is larger than the limit of \(Self.limit) bytes (1 MiB).")
        if let length = request.headers[.contentLength].flatMap(Int.init), length > Self.limit { throw tooLarge }
        var request = request
        do {
            _ = try await request.collectBody(upTo: Self.limit)
        } catch is NIOTooManyBytesError {
            throw tooLarge
        }
        return try await next(request, context)
    }
}
