import Audit
import Foundation
import HTTPEdge
import HTTPTypes
import Hummingbird
import Settings
import UseCases

/// Signing in with a person's own API key, and signing out.
extension Console {
    /// The sign-in form. Before there is a session, its CSRF token is kept in a short-lived
    /// cookie of its own and must come back with the form.
    func signInForm(_ request: Request, context: GatewayContext, message: String? = nil, status: HTTPResponse.Status = .ok) -> Response {
        let token = ConsoleSessions.randomToken()
        var frame = PageFrame(title: "Sign in", csrf: token)
        if Self.query(request, "signed-out") != nil { frame.notice = "You are signed out." }
        return pages.page(
            .signIn, frame,
            SignInPage(
                problem: message, next: Self.safeNext(Self.query(request, "next")) ?? "",
                provider: components.staffSignIn?.settings.name,
                providerLink: "/console/oidc/start" + (Self.safeNext(Self.query(request, "next")).map { "?next=" + Self.percentEncoded($0) } ?? "")),
            status: status,
            cookies: [cookie(ConsoleSessions.signInCookieName, token, maxAge: 3_600)])
    }

    func signIn(_ request: Request, context: GatewayContext) async throws -> Response {
        var request = request
        do {
            _ = try await request.collectBody(upTo: 64 * 1024)
        } catch {
            return signInForm(request, context: context, message: "The form was too large.", status: .contentTooLarge)
        }
        let form = try await ConsoleForm.decode(SignInForm.self, from: request)
        guard let expected = request.cookies[ConsoleSessions.signInCookieName]?.value, let token = form.csrf,
            ConsoleSessions.same(expected, token)
        else {
            return signInForm(
                request, context: context, message: "The sign-in form had expired or did not come from this console. Please sign in again.",
                status: .forbidden)
        }
        let now = clock.now()
        if form.method == "password" { return try await signInWithPassword(request, form: form, context: context) }
        let key = ConsoleForm.trimmed(form.key) ?? ""
        let digest = APIKey.digest(of: key)
        guard !key.isEmpty, let holder = keys.holder(digest: digest, now: now) else {
            return await refuse(
                request, context: context, reason: key.isEmpty ? "console sign-in without a key" : "console sign-in with an unknown key",
                message: key.isEmpty
                    ? "Enter your access key."
                    : "That access key is not recognised, or it has expired or been revoked. Check it and try again, or ask your administrator for a new one."
            )
        }
        return try await startSession(digest: digest, holder: holder, next: form.next, withPassword: false)
    }

    /// Signs in with a key's name and its holder's console password.
    func signInWithPassword(_ request: Request, form: SignInForm, context: GatewayContext) async throws -> Response {
        let source = addresses.source(peer: context.clientAddress, headers: request.headers)
        if let wait = passwordAttempts.take(for: source, now: clock.now()) {
            return signInForm(
                request, context: context,
                message: "Too many password sign-ins from here. Wait \(max(1, Int(wait.rounded(.up)))) seconds and try again.",
                status: .tooManyRequests)
        }
        let name = ConsoleForm.trimmed(form.name) ?? ""
        let password = form.password ?? ""
        if !name.isEmpty, !password.isEmpty, let digest = try await components.consolePasswords.verify(password, keyId: name),
            let holder = keys.holder(digest: digest, now: clock.now())
        {
            return try await startSession(digest: digest, holder: holder, next: form.next, withPassword: true)
        }
        return await refuse(
            request, context: context, reason: "console sign-in with a wrong name or password",
            message:
                "That name and password do not match, or the key has been revoked or has expired. Check them and try again, or sign in with your access key."
        )
    }

    /// A failed sign-in: counted and audited at the front door like a refused API key, and limited
    /// the same way; the form again with `message`, or with how long to wait once over the limit.
    func refuse(_ request: Request, context: GatewayContext, reason: String, message: String) async -> Response {
        let source = addresses.source(peer: context.clientAddress, headers: request.headers)
        let wait = frontDoor.refuse(source: source, reason: reason)
        await frontDoor.flush()
        if let wait {
            return signInForm(
                request, context: context,
                message: "Too many sign-ins from here failed. Wait \(max(1, Int(wait.rounded(.up)))) seconds and try again.",
                status: .tooManyRequests)
        }
        return signInForm(request, context: context, message: message, status: .unauthorized)
    }

    /// A new session for the holder of the key with `digest`, and the way back to where they were going.
    func startSession(digest: [UInt8], holder: KeyHolder, next: String?, withPassword: Bool) async throws -> Response {
        let session = try await sessions.begin(keyDigest: digest, holder: holder, withPassword: withPassword)
        let home = Self.home(holder.role)
        let next = Self.safeNext(next).flatMap { Self.mayReturn(to: $0, role: holder.role) ? $0 : nil } ?? home
        logger.info("Console sign-in", metadata: ["key": "\(holder.id)", "role": "\(holder.role.rawValue)"])
        return ConsolePages.redirect(
            next,
            cookies: [
                cookie(ConsoleSessions.cookieName, session.id, maxAge: Int(sessions.lifetime)),
                cookie(ConsoleSessions.signInCookieName, nil, maxAge: 0),
            ])
    }

    func signOut(context: GatewayContext) async throws -> Response {
        if let session = context.console { try await sessions.end(session.id) }
        return ConsolePages.redirect("/console/sign-in?signed-out=1", cookies: [cookie(ConsoleSessions.cookieName, nil, maxAge: 0)])
    }

    /// A console path to return to after sign-in; nil for anything else (another site, a scheme).
    static func safeNext(_ next: String?) -> String? {
        guard let next, next.hasPrefix("/console/"), !next.contains("//"), !next.contains("\\"), next.count <= 200 else { return nil }
        return next
    }
}

struct SignInPage: Sendable {
    var problem: String?
    var next: String
    /// The identity provider's name, where staff may sign in through it.
    var provider: String?
    var providerLink = "/console/oidc/start"
}
