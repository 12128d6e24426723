import Foundation
import HTTPEdge
import HTTPTypes
import Hummingbird
import Logging
import ReferralModel
import Settings
import UseCases

/// Guards a group of console pages: a live session whose key still works, a role the pages are
/// for, and on every form the session's CSRF token. Errors become pages, never problem+json.
struct ConsoleMiddleware: RouterMiddleware {
    typealias Context = GatewayContext
    let console: Console
    /// The roles these pages are for; empty for pages any signed-in person may open.
    let roles: Set<Role>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        do {
            guard let (signedIn, principal) = try await console.signedIn(request) else {
                // After sign-in, the person comes back to the page they asked for.
                let next = request.method == .get ? "?next=\(Console.percentEncoded(request.uri.path))" : ""
                return ConsolePages.redirect("/console/sign-in\(next)")
            }
            // A page shows the sentence kept for it once; an action's reply is a redirect to one.
            var session = signedIn
            session.notice = request.method == .get ? try await console.sessions.takeNotice(session) : nil
            context.principal = principal
            context.console = session
            if !roles.isEmpty, !roles.contains(principal.role) {
                throw ConsoleRefusal(
                    status: .forbidden,
                    message:
                        "This page is for \(roles.map(Console.roleName).sorted().joined(separator: " or ")) only. You are signed in as \(principal.actor), \(Console.roleName(principal.role))."
                )
            }
            var request = request
            if request.method == .post {
                if let length = request.headers[.contentLength].flatMap(Int.init), length > BodyLimitMiddleware.limit {
                    throw ConsoleRefusal(status: .contentTooLarge, message: "What you sent is larger than 1 MiB.")
                }
                _ = try await request.collectBody(upTo: BodyLimitMiddleware.limit)
                let form = try await ConsoleForm.decode(TokenForm.self, from: request)
                guard let token = form.csrf, ConsoleSessions.same(token, session.csrfToken) else {
                    throw ConsoleRefusal(
                        status: .forbidden,
                        message:
                            "This form did not come from your console session (its security token is missing or out of date), so nothing was changed. Go back, reload the page and try again."
                    )
                }
            }
            return try await next(request, context)
        } catch {
            return console.errorPage(error, context: context)
        }
    }
}

extension Console {
    /// The session a request's cookie names and the person whose key it was signed in with; nil
    /// when there is none, it expired, or the key has since been revoked or expired.
    func signedIn(_ request: Request) async throws -> (ConsoleSession, Principal)? {
        guard let id = request.cookies[ConsoleSessions.cookieName]?.value,
            let session = try await sessions.resume(id)
        else { return nil }
        // Signed in through the identity provider: who they are came with the session.
        if let person = session.person { return (session, Principal(holder: person.holder)) }
        guard let holder = keys.holder(digest: session.keyDigest, now: clock.now()) else {
            try await sessions.end(session.id)
            return nil
        }
        return (session, Principal(holder: holder))
    }

    /// The page an error shows: what went wrong in a sentence, nothing more.
    func errorPage(_ error: any Error, context: GatewayContext) -> Response {
        let status: HTTPResponse.Status
        let message: String
        switch error {
        case let refusal as ConsoleRefusal:
            (status, message) = (refusal.status, refusal.message)
        case let problem as ProblemResponse:
            (status, message) = (.init(code: problem.problem.status), problem.problem.detail)
        case _ where StoreAvailability.isUnavailable(error):
            (status, message) = (
                .serviceUnavailable,
                "The gateway cannot reach its database just now, so nothing was changed. Try again in a minute."
            )
        default:
            logger.error(
                "Console page failed", metadata: ["error.type": "\(String(reflecting: type(of: error)))", "request": "\(context.requestId)"])
            (status, message) = (
                .internalServerError, "Something went wrong and nothing was changed. It has been logged as request \(context.requestId)."
            )
        }
        return pages.page(.error, frame(context, title: "Something went wrong"), ErrorPage(message: message), status: status)
    }
}

struct ErrorPage: Sendable {
    var message: String
}
