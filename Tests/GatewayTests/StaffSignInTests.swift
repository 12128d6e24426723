import Foundation
import HTTPTypes
import HummingbirdTesting
import ReferralModel
import Storage
import SwitchboardTesting
import Testing
import Transport
import UseCases

/// Staff sign in to the console through an OpenID Connect provider: a small provider the tests
/// start on loopback (Tests/Fixtures/oidc/provider.py), the authorization code flow with PKCE, and
/// every way a sign-in must be refused.
@Suite(.serialized) struct StaffSignInTests {
    /// The provider, running; stopped when the value goes.
    final class Provider: Sendable {
        let process: ChildProcess
        let port: Int
        var issuer: String { "http://127.0.0.1:\(port)" }

        init() async throws {
            port = LoopbackPort.free()
            let script = repositoryRoot.appendingPathComponent("Tests/Fixtures/oidc/provider.py").path
            process = try ChildProcess(["/usr/bin/python3", script, String(port), "switchboard-console", "-"])
            let client = CurlTransport.started()
            // Python and two RSA keys: a few seconds on a machine busy with other suites.
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline {
                if let answer = try? await client.send(HTTPRequest(url: issuer + "/.well-known/openid-configuration")), answer.status == 200 {
                    return
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            throw TimedOut(description: "the test identity provider did not start")
        }
    }

    struct TimedOut: Error, CustomStringConvertible { var description: String }

    func fixture(_ provider: Provider) throws -> GatewayFixture {
        try GatewayFixture(
            sections: """
                console:
                  oidc:
                    issuer: \(provider.issuer)
                    client_id: switchboard-console
                    name: the Trust's account
                    roles: { Switchboard.Admin: admin, Switchboard.IG: governance, Falls.Staff: "agency:oxford-falls" }
                """)
    }

    /// The provider, and a gateway that signs staff in through it with its HTTP client running.
    func started() async throws -> (Provider, GatewayFixture, Task<Void, any Error>) {
        let provider = try await Provider()
        let fixture = try fixture(provider)
        try await fixture.components.start()
        let curl = fixture.components.transport
        return (provider, fixture, Task { try await curl.run() })
    }

    /// Goes through the flow as a browser would: to the provider (as `sub` with `roles`, in `mode`)
    /// and back; returns the answer to the callback. `tamper` changes the query the provider sent back.
    func signIn(
        _ browser: inout ConsoleBrowser, roles: String, mode: String = "", sub: String = "u-42", tamper: (String) -> String = { $0 }
    ) async throws -> ConsoleBrowser.Page {
        let started = try await browser.get("/console/oidc/start?next=/console/admin/audit")
        #expect(started.status == 303)
        let authorize = try #require(started.headers[.location])
        #expect(authorize.contains("code_challenge_method=S256") && authorize.contains("nonce=") && authorize.contains("state="))
        let client = CurlTransport.started()
        let extra = "&roles=\(roles)&sub=\(sub)&name=Jo%20Governance" + (mode.isEmpty ? "" : "&mode=\(mode)")
        let answer = try await client.send(HTTPRequest(url: authorize + extra))
        #expect(answer.status == 302)
        let back = try #require(answer.headers.first { $0.name.lowercased() == "location" }?.value)
        let query = try #require(back.split(separator: "?", maxSplits: 1).last.map(String.init))
        return try await browser.get("/console/oidc/callback?" + tamper(query))
    }

    @Test func aPersonSignsInThroughTheProviderAndTheirClaimGivesTheirRole() async throws {
        let (provider, fixture, transport) = try await started()
        defer { transport.cancel() }
        try await fixture.test { client in
            var browser = ConsoleBrowser(client)
            let form = try await browser.get("/console/sign-in")
            #expect(form.body.contains("Sign in with the Trust&#39;s account"))
            let back = try await signIn(&browser, roles: "Staff.Everyone,Switchboard.IG")
            #expect(back.status == 200 && back.body.contains("url=/console/admin/audit"))
            let page = try await browser.get("/console/admin/audit")
            #expect(page.status == 200 && page.body.contains("Jo Governance") && page.body.contains("information governance"))
            #expect(try await browser.get("/console/admin/rules").status == 403, "governance, not admin")

            var falls = ConsoleBrowser(client)
            _ = try await signIn(&falls, roles: "Falls.Staff", sub: "u-43")
            #expect(try await falls.get("/console/inbox").status == 200)
        }
        let signedIn = try await fixture.components.store.auditEvents(afterSequence: 0, limit: 1_000).filter { $0.kind == "console.signed-in" }
        #expect(
            signedIn.map(\.detail).contains("signed in to the web console as oidc:u-42 (governance) through the identity provider \(provider.issuer)")
        )
    }

    @Test func aWrongStateNonceSignatureIssuerAudienceOrRoleIsRefusedAndSignsNobodyIn() async throws {
        let (provider, fixture, transport) = try await started()
        defer { withExtendedLifetime(provider) {} }  // the identity provider runs until the test ends
        defer { transport.cancel() }
        try await fixture.test { client in
            let cases: [(mode: String, roles: String, tamper: @Sendable (String) -> String, says: String)] = [
                (
                    "", "Switchboard.Admin", { $0.replacingOccurrences(of: "state=", with: "state=x") },
                    "does not belong to the sign-in this browser started"
                ),
                ("wrong-nonce", "Switchboard.Admin", { $0 }, "does not belong to the sign-in this browser started"),
                ("bad-signature", "Switchboard.Admin", { $0 }, "not signed by the provider"),
                ("alg-none", "Switchboard.Admin", { $0 }, "not signed by the provider"),
                ("wrong-issuer", "Switchboard.Admin", { $0 }, "not issued to this gateway"),
                ("wrong-audience", "Switchboard.Admin", { $0 }, "not issued to this gateway"),
                ("expired", "Switchboard.Admin", { $0 }, "has expired"),
                ("", "Staff.Everyone", { $0 }, "has no Switchboard role"),
            ]
            for refused in cases {
                var browser = ConsoleBrowser(client)
                let back = try await signIn(&browser, roles: refused.roles, mode: refused.mode, tamper: refused.tamper)
                #expect(back.status == 403, "\(refused.mode) \(refused.roles)")
                #expect(back.body.contains(refused.says), "\(refused.mode): \(back.body)")
                #expect(browser.cookies[ConsoleSessions.cookieName] == nil, "\(refused.mode): nobody is signed in")
                #expect(try await browser.get("/console/admin").status == 303, "\(refused.mode): back to sign-in")
            }
            // Coming back without having started here (another browser's answer) is refused too.
            var stranger = ConsoleBrowser(client)
            #expect(try await stranger.get("/console/oidc/callback?code=abc&state=def").status == 403)
        }
        let signedIn = try await fixture.components.store.auditEvents(afterSequence: 0, limit: 1_000).filter { $0.kind == "console.signed-in" }
        #expect(signedIn.isEmpty)
    }
}
