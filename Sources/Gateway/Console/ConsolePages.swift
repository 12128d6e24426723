import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import NIOCore
import Settings

/// The console's templates (`Resources/console/*.mustache`, HTML-escaped by default) and its
/// stylesheet, read once at start-up, and the headers every console response carries.
struct ConsolePages: Sendable {
    let library: MustacheLibrary
    let stylesheet: ByteBuffer
    /// Whether this gateway is live; every page says so, and a test system says it loudly.
    let environment: DeploymentEnvironment

    init(environment: DeploymentEnvironment = .test) {
        self.environment = environment
        var library = MustacheLibrary()
        var stylesheet = ByteBuffer()
        if let directory = Bundle.module.url(forResource: "console", withExtension: nil),
            let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path)
        {
            for name in names.sorted() {
                let url = directory.appendingPathComponent(name)
                guard let text = try? String(contentsOf: url, encoding: .utf8) else { continue }
                if name.hasSuffix(".mustache") {
                    // A template that does not parse is a build mistake: the tests render every page.
                    try? library.register(text, named: String(name.dropLast(".mustache".count)))
                } else if name == "console.css" {
                    stylesheet = ByteBuffer(string: text)
                }
            }
        }
        self.library = library
        self.stylesheet = stylesheet
    }

    /// No script may run, nothing may load from elsewhere, forms post only here, and no other
    /// site may frame a page.
    static let contentSecurityPolicy =
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    /// The headers of every console response: CSP, no sniffing, no referrer, never cached.
    static func securityHeaders(_ headers: inout HTTPFields) {
        headers[HTTPField.Name("Content-Security-Policy")!] = contentSecurityPolicy
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        if headers[.cacheControl] == nil { headers[.cacheControl] = "no-store" }
    }

    /// An HTML page from template `name` with `values`.
    func page(_ name: String, _ values: [String: Any], status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var values = values
        values["environment"] = environment.rawValue
        values["testEnvironment"] = environment == .test
        let html = library.render(values, withTemplate: name) ?? "<!doctype html><title>Switchboard</title><p>This page could not be shown.</p>"
        var fields = headers
        fields[.contentType] = "text/html; charset=utf-8"
        Self.securityHeaders(&fields)
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    /// 303 See Other to `location`: after a form is handled, the browser asks for the result page.
    static func redirect(_ location: String, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.location] = location
        securityHeaders(&fields)
        return Response(status: .seeOther, headers: fields)
    }
}

/// An `application/x-www-form-urlencoded` body: every value of every name, in order.
struct FormBody: Sendable {
    private(set) var fields: [(name: String, value: String)] = []

    init(_ text: String) {
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = Self.decode(parts[0])
            let value = parts.count > 1 ? Self.decode(parts[1]) : ""
            fields.append((name, value))
        }
    }

    /// Reads a form body of at most 1 MiB; anything else is refused.
    static func read(_ request: Request) async throws -> FormBody {
        let type = request.headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
        guard type == "application/x-www-form-urlencoded" else {
            throw ConsoleRefusal(status: .unsupportedMediaType, message: "This page takes only a form sent from the console.")
        }
        let body = try await request.body.collect(upTo: BodyLimitMiddleware.limit)
        return FormBody(String(decoding: body.readableBytesView, as: UTF8.self))
    }

    /// The first value of `name`, nil when absent.
    subscript(_ name: String) -> String? { fields.first { $0.name == name }?.value }

    /// The first value of `name` with surrounding spaces removed; nil when absent or blank.
    func trimmed(_ name: String) -> String? {
        guard let value = self[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else { return nil }
        return value
    }

    /// Every value of `name` (checkboxes, multiple selects).
    func all(_ name: String) -> [String] { fields.filter { $0.name == name }.map(\.value) }

    private static func decode(_ part: Substring) -> String {
        let spaced = part.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }
}

/// A console request refused with a page that says why.
struct ConsoleRefusal: Error, Sendable {
    var status: HTTPResponse.Status
    var message: String
}
