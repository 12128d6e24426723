import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import NIOCore
import Settings

/// The console's pages, one template each (`Templates/*.mustache`, HTML-escaped by default).
enum ConsoleTemplate: String, CaseIterable, Sendable {
    case layout, error, account
    case signIn = "sign-in"
    case adminOverview = "admin-overview"
    case adminAttention = "admin-attention"
    case adminDead = "admin-dead"
    case adminReferral = "admin-referral"
    case adminEditor = "admin-editor"
    case adminHistory = "admin-history"
    case adminAudit = "admin-audit"
    case adminRecords = "admin-records"
    case inbox
    case inboxReferral = "inbox-referral"
    case refer
    case referStatus = "refer-status"
    /// A partial: what a proposed rules or agencies change would have done to recent referrals.
    case impact = "admin-impact"
}

/// A console template that is missing from the build or does not parse: the gateway does not start
/// without every page it may have to show.
public struct ConsoleTemplateProblem: Error, CustomStringConvertible, Sendable {
    public let template: String
    public let problem: String
    public var description: String { "The console's page template \(template).mustache \(problem). Reinstall the gateway: its build is incomplete." }
}

/// What every page shows around its own content: the title, who is signed in with the navigation
/// for their role, the form token, the sentence saying what their last action did, and whether
/// this is a live or a test system.
struct PageFrame: Sendable {
    struct User: Sendable {
        var name: String
        var role: String
    }

    struct Link: Sendable {
        var href: String
        var label: String
        var current: Bool
    }

    var title: String
    var user: User? = nil
    var csrf: String? = nil
    var notice: String? = nil
    var nav: [Link] = []
    /// The page reloads itself every few seconds (a referral being followed until it settles).
    var refresh = false
    var environment = ""
    var testEnvironment = false
}

/// A page's frame and its own content as one template context: a name is looked up in the content
/// first, then in the frame; an optional that is nil counts as absent, as a template expects.
struct RenderedPage<Content: Sendable>: MustacheParent {
    /// The frame's and the content's stored properties by name, read once (a template looks names
    /// up many times, from every row it draws); the content's own answer first where it gives one.
    private let values: [String: Any]
    private let content: (any MustacheParent)?

    init(frame: PageFrame, content: Content) {
        var values = TemplateValues.stored(frame)
        values.merge(TemplateValues.stored(content)) { _, own in own }
        self.values = values
        self.content = content as? any MustacheParent
    }

    func child(named name: String) -> Any? {
        content?.child(named: name) ?? values[name]
    }
}

enum TemplateValues {
    /// The stored property `name` of `value`, unwrapped when it is an optional; nil when it is
    /// absent or nil.
    static func stored(_ name: String, in value: Any) -> Any? {
        guard let child = Mirror(reflecting: value).children.first(where: { $0.label == name })?.value else { return nil }
        return unwrapped(child)
    }

    /// Every stored property of `value` that is not nil, by name.
    static func stored(_ value: Any) -> [String: Any] {
        var values: [String: Any] = [:]
        for child in Mirror(reflecting: value).children {
            guard let label = child.label, let value = unwrapped(child.value) else { continue }
            values[label] = value
        }
        return values
    }

    private static func unwrapped(_ value: Any) -> Any? {
        let mirror = Mirror(reflecting: value)
        guard mirror.displayStyle == .optional else { return value }
        return mirror.children.first?.value
    }

    /// Nil for an empty text: a template's `{{#name}}` section treats an empty string as present.
    static func nonEmpty(_ text: String?) -> String? {
        guard let text, !text.isEmpty else { return nil }
        return text
    }
}

/// The console's templates and stylesheet, read and parsed once at start-up (a missing or broken
/// template stops start-up with its name), and the headers every console response carries.
struct ConsolePages: Sendable {
    let library: MustacheLibrary
    let stylesheet: ByteBuffer
    /// Whether this gateway is live; every page says so, and a test system says it loudly.
    let environment: DeploymentEnvironment

    /// Where the build keeps the templates.
    static var builtTemplates: URL? { Bundle.module.url(forResource: "Templates", withExtension: nil) }

    init(environment: DeploymentEnvironment = .test) throws {
        guard let directory = Self.builtTemplates else {
            throw ConsoleTemplateProblem(template: "layout", problem: "is missing: the folder of templates is not in the build")
        }
        try self.init(environment: environment, directory: directory)
    }

    /// The templates in `directory`, every one of `ConsoleTemplate` required.
    init(environment: DeploymentEnvironment, directory: URL) throws {
        self.environment = environment
        var library = MustacheLibrary()
        for template in ConsoleTemplate.allCases {
            let url = directory.appendingPathComponent("\(template.rawValue).mustache")
            guard let text = try? String(contentsOf: url, encoding: .utf8) else {
                throw ConsoleTemplateProblem(template: template.rawValue, problem: "is missing")
            }
            do {
                try library.register(text, named: template.rawValue)
            } catch {
                throw ConsoleTemplateProblem(template: template.rawValue, problem: "does not parse (\(error))")
            }
        }
        guard let css = try? String(contentsOf: directory.appendingPathComponent("console.css"), encoding: .utf8) else {
            throw ConsoleTemplateProblem(template: "console.css", problem: "is missing")
        }
        self.library = library
        stylesheet = ByteBuffer(string: css)
    }

    /// No script may run, nothing may load from elsewhere, forms post only here, and no other
    /// site may frame a page. Hummingbird's `ContentSecurityMiddleware` sends it, with
    /// `X-Content-Type-Options: nosniff`, on every console response.
    static let contentSecurityPolicy: ContentSecurityPolicy = [
        .defaultSrc(.none), .styleSrc(.self), .imgSrc(.self), .formAction(.self), .frameAncestors(.none), .baseURI(.none),
    ]

    /// The headers every console response carries besides the policy: no referrer, no framing by
    /// older browsers, never cached.
    static func securityHeaders(_ headers: inout HTTPFields) {
        headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        if headers[.cacheControl] == nil { headers[.cacheControl] = "no-store" }
    }

    /// An HTML page from `template`: `frame` around `content`.
    func page<Content: Sendable>(
        _ template: ConsoleTemplate, _ frame: PageFrame, _ content: Content, status: HTTPResponse.Status = .ok, cookies: [Cookie] = []
    ) -> Response {
        let html = html(template, frame, content)
        var fields: HTTPFields = [.contentType: "text/html; charset=utf-8"]
        Self.securityHeaders(&fields)
        var response = Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: html)))
        for cookie in cookies { response.setCookie(cookie) }
        return response
    }

    /// The HTML of `template` with `frame` around `content`.
    func html<Content: Sendable>(_ template: ConsoleTemplate, _ frame: PageFrame, _ content: Content) -> String {
        var frame = frame
        frame.environment = environment.rawValue
        frame.testEnvironment = environment == .test
        // Every template was parsed at start-up, so this renders.
        return library.render(RenderedPage(frame: frame, content: content), withTemplate: template.rawValue) ?? ""
    }

    /// 303 See Other to `location`: after a form is handled, the browser asks for the result page.
    static func redirect(_ location: String, cookies: [Cookie] = []) -> Response {
        var fields = HTTPFields()
        fields[.location] = location
        securityHeaders(&fields)
        var response = Response(status: .seeOther, headers: fields)
        for cookie in cookies { response.setCookie(cookie) }
        return response
    }
}

/// A console request refused with a page that says why.
struct ConsoleRefusal: Error, Sendable {
    var status: HTTPResponse.Status
    var message: String
}
