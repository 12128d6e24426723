import Foundation
import HTTPEdge
import HTTPTypes
import Hummingbird
import NIOCore
import ReferralModel
import UseCases

/// Staff sign-in through the organisation's identity provider (OpenID Connect): away to the
/// provider with PKCE, state and nonce, and back with a code the gateway exchanges and verifies.
extension Console {
    func addStaffSignInRoutes(_ routes: RouteCollection<GatewayContext>) {
        routes.get("oidc/start") { request, context in try await startStaffSignIn(request, context: context) }
        routes.get("oidc/callback") { request, context in try await finishStaffSignIn(request, context: context) }
    }

    func startStaffSignIn(_ request: Request, context: GatewayContext) async throws -> Response {
        guard let signIn = components.staffSignIn else {
            return signInForm(request, context: context, message: "Sign-in through an identity provider is not set up here.", status: .notFound)
        }
        let redirect =
            signIn.settings.redirectURL ?? "\(secure ? "https" : "http")://\(request.head.authority ?? "localhost")/console/oidc/callback"
        do {
            let started = try await signIn.start(redirectURL: redirect, next: Self.safeNext(Self.query(request, "next")) ?? "")
            return ConsolePages.redirect(started.location, cookies: [providerCookie(started.cookie)])
        } catch let refusal as StaffSignIn.Refusal {
            return signInForm(request, context: context, message: refusal.description, status: .badGateway)
        }
    }

    func finishStaffSignIn(_ request: Request, context: GatewayContext) async throws -> Response {
        guard let signIn = components.staffSignIn else {
            return signInForm(request, context: context, message: "Sign-in through an identity provider is not set up here.", status: .notFound)
        }
        do {
            let (person, wanted) = try await signIn.finish(
                code: Self.query(request, "code"), state: Self.query(request, "state"), error: Self.query(request, "error"),
                cookie: request.cookies[StaffSignIn.cookieName]?.value)
            let session = try await sessions.begin(person: person, issuer: signIn.settings.issuer)
            let home = Self.home(person.role)
            let next = Self.safeNext(wanted).flatMap { Self.mayReturn(to: $0, role: person.role) ? $0 : nil } ?? home
            logger.info("Console sign-in through the identity provider", metadata: ["role": "\(person.role.rawValue)"])
            // The way back from the provider began on another site, so a browser does not send this
            // console's strict cookies on a redirect from here: a page of its own moves on instead.
            var headers: HTTPFields = [.contentType: "text/html; charset=utf-8"]
            ConsolePages.securityHeaders(&headers)
            for cookie in [cookie(ConsoleSessions.cookieName, session.id, maxAge: Int(sessions.lifetime)), providerCookie(nil)] {
                headers.append(HTTPField(name: .setCookie, value: cookie.description))
            }
            let link = next.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "\"", with: "&quot;")
                .replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            let page = """
                <!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=\(link)">\
                <title>Signed in</title></head><body><p>You are signed in. <a href="\(link)">Continue</a>.</p></body></html>
                """
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: page)))
        } catch let refusal as StaffSignIn.Refusal {
            logger.notice("Console sign-in through the identity provider refused", metadata: ["why": "\(refusal.description)"])
            var response = signInForm(request, context: context, message: refusal.description, status: .forbidden)
            response.headers.append(HTTPField(name: .setCookie, value: providerCookie(nil).description))
            return response
        }
    }

    /// Holds the sign-in in progress while the person is at the provider: `SameSite=Lax`, so the
    /// provider's redirect back (a top-level navigation from its site) carries it.
    func providerCookie(_ value: String?) -> Cookie {
        Cookie(
            name: StaffSignIn.cookieName, value: value ?? "", maxAge: value == nil ? 0 : 600, path: "/console", secure: secure, httpOnly: true,
            sameSite: .lax)
    }
}
