import Deployment
import Foundation
import HTTPEdge
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ReferralModel
import Settings
import UseCases

/// The web console: server-rendered pages for administrators, agencies without a system of their
/// own, and referrers, over the same use cases as the API. No script runs; every form posts back
/// here with the session's CSRF token.
public struct Console: Sendable {
    let components: GatewayComponents
    let pages: ConsolePages
    let sessions: ConsoleSessions
    let keys: LiveKeys
    let clock: any WallClock
    let frontDoor: FrontDoor
    let addresses: ClientAddress
    let logger: Logger
    /// True when the gateway terminates TLS: cookies are then `Secure`.
    let secure: Bool
    /// Password sign-ins per client address, before any is checked: each costs a slow hash, so
    /// guessing cannot be fast, nor keep the gateway busy. Ten at once, then one a minute.
    let passwordAttempts = SignInAllowance(burst: 10, perMinute: 1)

    /// Throws `ConsoleTemplateProblem` when a page's template is missing or does not parse.
    public init(components: GatewayComponents, frontDoor: FrontDoor, addresses: ClientAddress, logger: Logger) throws {
        self.components = components
        pages = try ConsolePages(environment: components.configuration.settings.environment ?? .test)
        sessions = components.sessions
        keys = components.keys
        clock = components.clock
        self.frontDoor = frontDoor
        self.addresses = addresses
        self.logger = logger
        secure = components.configuration.settings.server.tlsCertificateFile != nil
    }

    /// Every console page, to be served at `/console`: sign-in and the stylesheet for anyone, the
    /// rest behind a session whose role the pages are for.
    public func routes() -> RouteCollection<GatewayContext> {
        let routes = RouteCollection(context: GatewayContext.self)
        routes.add(middleware: ContentSecurityMiddleware(contentSecurityPolicy: ConsolePages.contentSecurityPolicy))
        let css = pages.stylesheet
        routes.get("console.css") { _, _ in
            var headers: HTTPFields = [.contentType: "text/css; charset=utf-8", .cacheControl: "max-age=300"]
            ConsolePages.securityHeaders(&headers)
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: css))
        }
        routes.get { request, _ in
            guard let (_, principal) = try await signedIn(request) else { return ConsolePages.redirect("/console/sign-in") }
            return ConsolePages.redirect(Self.home(principal.role))
        }
        routes.get("sign-in") { request, context in
            // Someone already signed in goes to their pages.
            if let (_, principal) = try await signedIn(request) { return ConsolePages.redirect(Self.home(principal.role)) }
            return signInForm(request, context: context)
        }
        routes.post("sign-in") { request, context in try await signIn(request, context: context) }
        addStaffSignInRoutes(routes)
        let session = routes.group().add(middleware: ConsoleMiddleware(console: self, roles: []))
        session.post("sign-out") { _, context in try await signOut(context: context) }
        addAccountRoutes(session)
        // Operations staff share the queue pages, governance the audit trail; the rest is administrators'.
        addAdminRoutes(
            routes.group("admin").add(middleware: ConsoleMiddleware(console: self, roles: [.admin])),
            operations: routes.group("admin").add(middleware: ConsoleMiddleware(console: self, roles: [.admin, .operations])),
            governance: routes.group("admin").add(middleware: ConsoleMiddleware(console: self, roles: [.admin, .governance])))
        addRecordsRoutes(routes.group("admin").add(middleware: ConsoleMiddleware(console: self, roles: [.governance])))
        addInboxRoutes(routes.group("inbox").add(middleware: ConsoleMiddleware(console: self, roles: [.agency])))
        addReferRoutes(routes.group("refer").add(middleware: ConsoleMiddleware(console: self, roles: [.referrer])))
        return routes
    }

    /// Where each role starts.
    static func home(_ role: Role) -> String {
        switch role {
        case .admin, .operations: "/console/admin"
        case .governance: "/console/admin/records"
        case .agency: "/console/inbox"
        case .referrer: "/console/refer"
        }
    }

    /// Whether sign-in may go back to `next` for someone of `role`: their own pages, or their account.
    static func mayReturn(to next: String, role: Role) -> Bool {
        let own = role == .governance ? ["/console/admin/records", "/console/admin/audit"] : [home(role)]
        return next == "/console/account" || own.contains { next == $0 || next.hasPrefix($0 + "/") || next.hasPrefix($0 + "?") }
    }

    static func roleName(_ role: Role) -> String {
        switch role {
        case .admin: "administrators"
        case .operations: "operations staff"
        case .governance: "information governance"
        case .agency: "agency staff"
        case .referrer: "referrers"
        }
    }

    /// What every signed-in page shows: who is signed in, the navigation for their role, the form
    /// token, and the sentence saying what their last action did.
    func frame(_ context: GatewayContext, title: String, current: String? = nil) -> PageFrame {
        var frame = PageFrame(title: title)
        guard let principal = context.principal, let session = context.console else { return frame }
        frame.user = .init(name: principal.actor, role: Self.roleName(principal.role))
        frame.csrf = session.csrfToken
        frame.notice = session.notice
        let links: [(String, String)] =
            switch principal.role {
            case .admin:
                [
                    ("/console/admin", "Overview"), ("/console/admin/attention", "Needs attention"), ("/console/admin/dead", "Dead letters"),
                    ("/console/admin/rules", "Rules"), ("/console/admin/agencies", "Agencies"), ("/console/admin/audit", "Audit trail"),
                ]
            case .operations: [("/console/admin", "Overview"), ("/console/admin/dead", "Dead letters")]
            case .governance: [("/console/admin/records", "Subject access"), ("/console/admin/audit", "Audit trail")]
            case .agency: [("/console/inbox", "Inbox")]
            case .referrer: [("/console/refer", "New referral")]
            }
        frame.nav = links.map { .init(href: $0.0, label: $0.1, current: $0.0 == current) }
        return frame
    }

    /// Keeps a sentence for the person's next page. What they did is done even when the sentence
    /// cannot be kept (the database just went away): the page then shows none.
    func tell(_ context: GatewayContext, _ text: String) async {
        guard let session = context.console else { return }
        do {
            try await sessions.tell(session.id, text)
        } catch {
            logger.warning("A console notice could not be kept", metadata: ["error.type": "\(type(of: error))", "request": "\(context.requestId)"])
        }
    }

    /// The console's cookie `name` with `value` (nil clears it): `HttpOnly`, `SameSite=Strict`,
    /// scoped to the console, `Secure` when the gateway terminates TLS.
    func cookie(_ name: String, _ value: String?, maxAge: Int) -> Cookie {
        Cookie(
            name: name, value: value ?? "", maxAge: value == nil ? 0 : maxAge, path: "/console", secure: secure, httpOnly: true,
            sameSite: .strict)
    }

    static func percentEncoded(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~/")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }

    /// The query parameter `name` of the request, if present.
    static func query(_ request: Request, _ name: String) -> String? {
        request.uri.queryParameters.get(name).map { String($0) }
    }
}
