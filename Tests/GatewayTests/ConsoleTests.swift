import Foundation
import Gateway
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import ReferralModel
import Settings
import Storage
import SwitchboardTesting
import Testing
import UseCases

/// A browser's side of the console, in process: the cookies it holds and the pages it reads.
struct ConsoleBrowser {
    let client: any TestClientProtocol
    var cookies: [String: String] = [:]
    /// The last page's CSRF token.
    var csrf = ""

    struct Page {
        var status: Int
        var headers: HTTPFields
        var body: String
    }

    init(_ client: any TestClientProtocol) { self.client = client }

    mutating func get(_ uri: String) async throws -> Page {
        try await send(uri, .get, form: nil)
    }

    mutating func post(_ uri: String, _ form: [(String, String)], withToken: Bool = true) async throws -> Page {
        try await send(uri, .post, form: (withToken ? [("csrf", csrf)] : []) + form)
    }

    mutating func send(_ uri: String, _ method: HTTPRequest.Method, form: [(String, String)]?) async throws -> Page {
        var fields = HTTPFields()
        if !cookies.isEmpty { fields[.cookie] = cookies.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: "; ") }
        var body: ByteBuffer?
        if let form {
            fields[.contentType] = "application/x-www-form-urlencoded"
            var allowed = CharacterSet.alphanumerics
            allowed.insert(charactersIn: "-._~")
            body = ByteBuffer(
                string: form.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }.joined(separator: "&"))
        }
        let page = try await client.execute(uri: uri, method: method, headers: fields, body: body) {
            Page(status: Int($0.status.code), headers: $0.headers, body: String(buffer: $0.body))
        }
        for cookie in page.headers[values: .setCookie] {
            let pair = cookie.split(separator: ";")[0].split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(pair[0])
            if cookie.contains("Max-Age=0") { cookies[name] = nil } else { cookies[name] = String(pair[1]) }
        }
        if let range = page.body.range(of: #"name="csrf" value=""#) {
            csrf = String(page.body[range.upperBound...].prefix { $0 != "\"" })
        }
        return page
    }

    /// Signs in with `key` as the sign-in form does; returns the page it lands on.
    mutating func signIn(_ key: String, next: String = "") async throws -> Page {
        _ = try await get("/console/sign-in")
        let answer = try await post("/console/sign-in", [("key", key), ("next", next)])
        guard answer.status == 303, let location = answer.headers[.location] else { return answer }
        return try await get(location)
    }
}

@Suite struct ConsoleTests {
    @Test func everyPageCarriesItsSecurityHeadersAndNoScript() async throws {
        let fixture = try GatewayFixture()
        try await fixture.test { client in
            var admin = ConsoleBrowser(client)
            let home = try await admin.signIn(GatewayFixture.adminKey)
            #expect(home.status == 200 && home.body.contains("<h1>Overview</h1>"))
            for path in [
                "/console/admin", "/console/admin/attention", "/console/admin/dead", "/console/admin/rules", "/console/admin/rules/history",
                "/console/admin/agencies", "/console/admin/agencies/history", "/console/admin/audit", "/console/sign-in",
            ] {
                let page = try await admin.get(path)
                #expect(page.status == 200 || (path == "/console/sign-in" && page.status == 303), "\(path)")
                #expect(page.headers[HTTPField.Name("Content-Security-Policy")!]?.contains("default-src 'none'") == true, "\(path)")
                #expect(page.headers[HTTPField.Name("Content-Security-Policy")!]?.contains("script-src") == false, "\(path): no script at all")
                #expect(page.headers[values: HTTPField.Name("Content-Security-Policy")!].count == 1, "\(path): one policy, not two")
                #expect(page.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff", "\(path)")
                #expect(page.headers[HTTPField.Name("X-Frame-Options")!] == "DENY", "\(path)")
                #expect(page.headers[.cacheControl] == "no-store", "\(path)")
                #expect(!page.body.lowercased().contains("<script"), "\(path)")
                #expect(!page.body.contains(" style=\""), "\(path): no inline style, which the policy would block")
            }
            let css = try await admin.get("/console/console.css")
            #expect(css.status == 200 && css.headers[.contentType] == "text/css; charset=utf-8")
        }
    }

    @Test func theSessionCookieIsHttpOnlyStrictAndSecureWhenTheGatewayTerminatesTLS() async throws {
        let files = FileManager.default.temporaryDirectory.appendingPathComponent("console-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: files, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: files) }
        _ = try await TestPostgres.offThread {
            try ChildProcess.check(
                [
                    "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-keyout", "key.pem", "-out",
                    "cert.pem",
                ], directory: files.path)
        }
        let certificate = files.appendingPathComponent("cert.pem").path
        let key = files.appendingPathComponent("key.pem").path
        for tls in [false, true] {
            let fixture = try GatewayFixture(server: tls ? "tls: { certificate_file: \"\(certificate)\", key_file: \"\(key)\" }" : "")
            try await fixture.test { client in
                var browser = ConsoleBrowser(client)
                _ = try await browser.get("/console/sign-in")
                let answer = try await browser.post("/console/sign-in", [("key", GatewayFixture.agencyKey)])
                #expect(answer.status == 303 && answer.headers[.location] == "/console/inbox")
                let cookie = try #require(answer.headers[values: .setCookie].first { $0.hasPrefix("switchboard_session=") })
                #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/console"))
                #expect(cookie.contains("; Secure") == tls, "\(cookie)")
            }
        }
    }

    @Test func aSessionEndsWhenIdleAndOnSignOut() async throws {
        let clock = ManualClock()
        let fixture = try GatewayFixture(clock: clock)
        try await fixture.test { client in
            var admin = ConsoleBrowser(client)
            _ = try await admin.signIn(GatewayFixture.adminKey)
            clock.advance(by: 29 * 60)
            #expect(try await admin.get("/console/admin").status == 200, "each page restarts the idle time")
            clock.advance(by: 31 * 60)
            let expired = try await admin.get("/console/admin")
            #expect(expired.status == 303 && expired.headers[.location] == "/console/sign-in?next=/console/admin")
            _ = try await admin.signIn(GatewayFixture.adminKey)
            let out = try await admin.post("/console/sign-out", [])
            #expect(out.status == 303 && admin.cookies["switchboard_session"] == nil)
            #expect(try await admin.get("/console/admin").status == 303)
        }
    }

    @Test func aRevokedKeyEndsItsSessionsAtOnce() async throws {
        let fixture = try GatewayFixture()
        try await fixture.test { client in
            let made = try await client.execute(
                uri: "/v1/keys", method: .post, headers: headers(key: GatewayFixture.adminKey),
                body: ByteBuffer(string: #"{"id": "duty-admin", "owner": "Dee on duty", "role": "admin"}"#)
            ) { try JSONDecoder().decode(KeyAdministration.Issued.self, from: Data(buffer: $0.body)) }
            var dee = ConsoleBrowser(client)
            let home = try await dee.signIn(made.key)
            #expect(home.body.contains("Dee on duty (administrators)"))
            let revoked = try await client.execute(uri: "/v1/keys/duty-admin/revoke", method: .post, headers: headers(key: GatewayFixture.adminKey)) {
                Int($0.status.code)
            }
            #expect(revoked == 200)
            #expect(try await dee.get("/console/admin").status == 303, "a revoked key's session is over")
        }
    }

    @Test func signInGoesBackOnlyToAConsolePageOfThePersonsRole() async throws {
        let fixture = try GatewayFixture()
        try await fixture.test { client in
            for next in ["https://evil.example/", "//evil.example/console/", "/console/admin/rules"] {
                var agency = ConsoleBrowser(client)
                _ = try await agency.get("/console/sign-in")
                let answer = try await agency.post("/console/sign-in", [("key", GatewayFixture.agencyKey), ("next", next)])
                #expect(answer.headers[.location] == "/console/inbox", "\(next)")
            }
            var admin = ConsoleBrowser(client)
            _ = try await admin.get("/console/sign-in")
            let answer = try await admin.post("/console/sign-in", [("key", GatewayFixture.adminKey), ("next", "/console/admin/rules")])
            #expect(answer.headers[.location] == "/console/admin/rules")
        }
    }

    @Test func failedSignInsAreRefusedCountedAndLimitedWithoutTheKeyInTheRecord() async throws {
        // The gateway's clock stands still: the allowance is exactly what is configured, however busy the machine.
        let fixture = try GatewayFixture(clock: ManualClock())
        try await fixture.test { client in
            var stranger = ConsoleBrowser(client)
            _ = try await stranger.get("/console/sign-in")
            let refused = try await stranger.post("/console/sign-in", [("key", "guessed-key-9997654323")])
            #expect(refused.status == 401 && refused.body.contains("That access key is not recognised"))
            #expect(stranger.cookies["switchboard_session"] == nil)
            var last = refused.status
            for _ in 0..<40 where last != 429 {
                _ = try await stranger.get("/console/sign-in")
                last = try await stranger.post("/console/sign-in", [("key", "guessed-key-9997654323")]).status
            }
            #expect(last == 429, "sign-in guesses are limited like refused API keys")
            var noToken = ConsoleBrowser(client)
            let forged = try await noToken.post("/console/sign-in", [("key", GatewayFixture.adminKey)], withToken: false)
            #expect(forged.status == 403 && noToken.cookies["switchboard_session"] == nil, "a sign-in form from elsewhere is refused")
        }
        await fixture.application.frontDoor.flush(all: true)
        let events = try await fixture.components.store.auditEvents(afterSequence: 0, limit: 1_000)
        #expect(events.contains { $0.kind == "auth.rejected" && $0.detail.contains("console sign-in with an unknown key") })
        #expect(!events.contains { $0.detail.contains("guessed-key") || $0.detail.contains("9997654323") })
    }

    @Test func formsWithoutTheSessionsTokenChangeNothing() async throws {
        let fixture = try GatewayFixture()
        try await fixture.test { client in
            var admin = ConsoleBrowser(client)
            _ = try await admin.signIn(GatewayFixture.adminKey)
            let forged = try await admin.post("/console/admin/agencies/oxfordshire-spa/pause", [("reason", "forged")], withToken: false)
            #expect(forged.status == 403 && forged.body.contains("security token"))
            let paused = try await admin.post("/console/admin/agencies/oxfordshire-spa/pause", [("reason", "planned outage")])
            #expect(paused.status == 303)
        }
        let lanes = try await fixture.components.store.laneStates()
        #expect(lanes.first { $0.agency == "oxfordshire-spa" }?.paused?.reason == "planned outage")
        let pauses = try await fixture.components.store.auditEvents(afterSequence: 0, limit: 1_000).filter { $0.kind == "agency.paused" }
        #expect(pauses.count == 1, "only the form with its token paused the agency")
    }

    @Test func theReferralFormShowsTheAPIsProblemsBesideTheirFieldsAndStoresNothing() async throws {
        let fixture = try GatewayFixture()
        try await fixture.test { client in
            var referrer = ConsoleBrowser(client)
            _ = try await referrer.signIn(GatewayFixture.referrerKey)
            let answer = try await referrer.post(
                "/console/refer",
                [
                    ("submission", "form-1"), ("/referrer/organisation", "K84001"), ("/referrer/name", "Dev"), ("/subject/givenName", "Ada"),
                    ("/subject/familyName", "Example"), ("/subject/birthDate", "2999-01-01"), ("/subject/nhsNumber", "9997654324"),
                    ("/subject/postcode", "OX1 2JD"), ("/needs[]", "falls-prevention"), ("/urgency", "routine"), ("/reason", "Falls."),
                    ("/consent/status", "given"),
                ])
            #expect(answer.status == 422)
            #expect(answer.body.contains(#"id="f-subject-birthDate-problem""#) && answer.body.contains(#"id="f-subject-nhsNumber-problem""#))
            #expect(answer.body.contains(#"value="Ada""#), "what was typed is kept")
            let api = try await client.execute(
                uri: "/v1/referrals", method: .post, headers: headers(key: GatewayFixture.referrerKey),
                body: ByteBuffer(
                    string: #"""
                        {"referrer": {"organisation": "K84001", "name": "Dev"}, "subject": {"givenName": "Ada", "familyName": "Example",
                         "birthDate": "2999-01-01", "nhsNumber": "9997654324", "postcode": "OX1 2JD"}, "needs": ["falls-prevention"],
                         "urgency": "routine", "reason": "Falls.", "consent": {"status": "given"}}
                        """#)
            ) { try JSONDecoder().decode(ProblemBody.self, from: Data(buffer: $0.body)) }
            let details = try #require(api.errors).map(\.detail)
            #expect(details.count == 2)
            for detail in details {
                let escaped = detail.replacingOccurrences(of: "'", with: "&#39;").replacingOccurrences(of: "\"", with: "&quot;")
                #expect(answer.body.contains(escaped), "\(detail)")
            }
        }
        #expect(try fixture.count("referrals") == 0)
    }

    @Test func aResentReferralFormMakesOneReferral() async throws {
        let fixture = try GatewayFixture()
        try await fixture.test { client in
            var referrer = ConsoleBrowser(client)
            _ = try await referrer.signIn(GatewayFixture.referrerKey)
            let form = [
                ("submission", "form-2"), ("/referrer/organisation", "K84001"), ("/referrer/name", "Dev"), ("/subject/givenName", "Ada"),
                ("/subject/familyName", "Example"), ("/subject/birthDate", "1940-01-01"), ("/subject/postcode", "OX1 2JD"),
                ("/needs[]", "falls-prevention"), ("/urgency", "routine"), ("/reason", "Falls."), ("/consent/status", "given"),
            ]
            let first = try await referrer.post("/console/refer", form)
            let second = try await referrer.post("/console/refer", form)
            #expect(first.status == 303 && first.headers[.location] == second.headers[.location])
            let status = try await referrer.get(try #require(first.headers[.location]))
            #expect(status.status == 200 && status.body.contains("Your referral is received"))
        }
        #expect(try fixture.count("referrals") == 1)
    }

    @Test func anAgencySeesOnlyItsOwnReferrals() async throws {
        let fixture = try GatewayFixture()
        try await fixture.test { client in
            // The falls example goes to the falls service, not to the key's council front door.
            let id = try await client.execute(
                uri: "/v1/referrals", method: .post, headers: headers(key: GatewayFixture.referrerKey), body: ByteBuffer(data: try exampleReferral())
            ) { try JSONDecoder().decode(SubmissionReceipt.self, from: Data(buffer: $0.body)).id }
            var agency = ConsoleBrowser(client)
            _ = try await agency.signIn(GatewayFixture.agencyKey)
            let page = try await agency.get("/console/inbox/\(id)")
            #expect(page.status == 404 && !page.body.contains("Specimen"))
            #expect(try await agency.get("/console/admin").status == 403)
        }
    }

    @Test func aPersonSetsAPasswordThenSignsInWithTheirKeysNameAndIt() async throws {
        let fixture = try GatewayFixture()
        let password = "violet kettle harbour moss"
        try await fixture.test { client in
            var agency = ConsoleBrowser(client)
            _ = try await agency.signIn(GatewayFixture.agencyKey)
            let account = try await agency.get("/console/account")
            #expect(account.status == 200 && account.body.contains("test-agency") && account.body.contains("Set my password"))
            let mismatch = try await agency.post("/console/account/password", [("password", password), ("repeat", password + "s")])
            #expect(mismatch.status == 422 && mismatch.body.contains("The two new passwords are not the same."))
            let set = try await agency.post("/console/account/password", [("password", password), ("repeat", password)])
            #expect(set.status == 303)
            #expect(try await agency.get("/console/account").body.contains("Your password is set"))
            _ = try await agency.post("/console/sign-out", [])

            var again = ConsoleBrowser(client)
            _ = try await again.get("/console/sign-in")
            let wrong = try await again.post("/console/sign-in", [("method", "password"), ("name", "test-agency"), ("password", "guess")])
            #expect(wrong.status == 401 && wrong.body.contains("That name and password do not match"))
            let right = try await again.post("/console/sign-in", [("method", "password"), ("name", "test-agency"), ("password", password)])
            #expect(right.status == 303 && right.headers[.location] == "/console/inbox")
            #expect(try await again.get("/console/inbox").status == 200)
        }
        let events = try await fixture.components.store.auditEvents(afterSequence: 0, limit: 1_000)
        #expect(events.contains { $0.kind == "key.password-set" && $0.actor == "test-agency" })
        #expect(
            events.filter { $0.kind == "console.signed-in" }.map(\.detail) == [
                "signed in to the web console as key test-agency, with the key",
                "signed in to the web console as key test-agency, with their password",
            ])
        #expect(!events.contains { $0.detail.contains("violet") })
    }

    @Test func passwordGuessesAreLimitedBeforeAnyIsChecked() async throws {
        let clock = ManualClock()
        let fixture = try GatewayFixture(clock: clock)
        try await fixture.test { client in
            var guesser = ConsoleBrowser(client)
            var statuses: [Int] = []
            for attempt in 0..<11 {
                _ = try await guesser.get("/console/sign-in")
                statuses.append(
                    try await guesser.post(
                        "/console/sign-in", [("method", "password"), ("name", "test-admin"), ("password", "guess \(attempt)")]
                    ).status)
            }
            #expect(statuses.prefix(10).allSatisfy { $0 == 401 } && statuses.last == 429, "\(statuses)")
            clock.advance(by: 61)
            _ = try await guesser.get("/console/sign-in")
            let later = try await guesser.post("/console/sign-in", [("method", "password"), ("name", "test-admin"), ("password", "guess")])
            #expect(later.status == 401, "one more try a minute later")
        }
    }

    @Test func anInboxIsReadAPageAtATime() async throws {
        let fixture = try GatewayFixture()
        try await fixture.test { client in
            for _ in 0..<51 {
                let status = try await client.execute(
                    uri: "/v1/referrals", method: .post, headers: headers(key: GatewayFixture.referrerKey),
                    body: ByteBuffer(data: try exampleReferral())
                ) { Int($0.status.code) }
                #expect(status == 202)
            }
            var agency = ConsoleBrowser(client)
            _ = try await agency.signIn(GatewayFixture.agencyKey)
            let first = try await agency.get("/console/inbox?show=all")
            #expect(first.body.components(separatedBy: "<div class=\"card").count - 1 == 50)
            let range = try #require(
                first.body.range(of: #"<a href="(/console/inbox\?show=all&amp;before=[^"]+)">More referrals"#, options: .regularExpression))
            let link = String(first.body[range]).replacingOccurrences(of: "&amp;", with: "&").split(separator: "\"")[1]
            let second = try await agency.get(String(link))
            #expect(second.body.components(separatedBy: "<div class=\"card").count - 1 == 1)
            #expect(second.body.contains("Back to the first page") && !second.body.contains("More referrals"))
        }
    }

    @Test func theConsoleIsNotPartOfTheAPIContract() throws {
        let fixture = try GatewayFixture()
        #expect(!fixture.application.routes.contains { $0.path.hasPrefix("/console") })
    }
}
