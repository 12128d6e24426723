import Foundation
import Gateway
import Hummingbird
import HummingbirdTesting
import Logging
import SwitchboardTesting
import Synchronization
import Testing

/// Console sessions are kept in the store, so a load balancer may send a person's pages to any
/// gateway on a shared database, and a restart signs no one out.
@Suite struct ConsoleSessionSharingTests {
    @Test func aSessionMadeAtOneGatewayWorksAtAnotherOnTheSameDatabaseAndSigningOutEndsItAtBoth() async throws {
        let database = try await TestPostgres.shared().makeDatabase(prefix: "sessions")
        let first = try GatewayFixture(storage: database.url)
        let second = Application(router: try GatewayFixture(storage: database.url).application.router)
        try await first.test { firstClient in
            try await second.test(.router) { secondClient in
                var atFirst = ConsoleBrowser(firstClient)
                let home = try await atFirst.signIn(GatewayFixture.adminKey)
                #expect(home.status == 200 && home.body.contains("Overview"))

                // The same cookie at the second gateway: the same person, the same form token.
                var atSecond = ConsoleBrowser(secondClient)
                atSecond.cookies = atFirst.cookies
                let overview = try await atSecond.get("/console/admin")
                #expect(overview.status == 200 && overview.body.contains("Overview"), "\(overview.status)")
                #expect(atSecond.csrf == atFirst.csrf, "one session, one CSRF token")
                let paused = try await atSecond.post("/console/admin/agencies/oxford-falls/pause", [("reason", "new system going in")])
                #expect(paused.status == 303, "a form made at one gateway is accepted at the other")
                // The sentence it keeps is shown once, at whichever gateway the next page comes from.
                let next = try await atFirst.get("/console/admin")
                #expect(next.body.contains("Deliveries to oxford-falls are paused"))
                let again = try await atSecond.get("/console/admin")
                #expect(!again.body.contains("Deliveries to oxford-falls are paused"))

                // Signing out at the first gateway ends the session at the second.
                #expect(try await atFirst.post("/console/sign-out", []).status == 303)
                let after = try await atSecond.get("/console/admin")
                #expect(after.status == 303 && after.headers[.location] == "/console/sign-in?next=/console/admin")
            }
        }
    }

    @Test func aGatewayStartedAgainOnTheStoreSignsNoOneOutAndTheDatabaseHoldsNoSessionCookie() async throws {
        let fixture = try GatewayFixture()
        let signedIn = Mutex<[String: String]>([:])
        try await fixture.test { client in
            var admin = ConsoleBrowser(client)
            let home = try await admin.signIn(GatewayFixture.adminKey)
            #expect(home.status == 200)
            signedIn.withLock { $0 = admin.cookies }
        }
        let cookies = signedIn.withLock { $0 }
        let session = try #require(cookies["switchboard_session"])
        let stored = try SQLiteInspector(path: fixture.databasePath).strings("SELECT digest || key_digest || csrf_token FROM console_sessions")
        #expect(stored.count == 1)
        #expect(!stored.joined().contains(session), "only the session cookie's digest is stored")
        #expect(!stored.joined().contains(GatewayFixture.adminKey))

        let restarted = try GatewayApplication(components: try fixture.restarted(), logger: Logger(label: "test"))
        try await Application(router: restarted.router).test(.router) { client in
            var admin = ConsoleBrowser(client)
            admin.cookies = cookies
            let overview = try await admin.get("/console/admin")
            #expect(overview.status == 200, "still signed in at the new gateway")
        }
    }
}
