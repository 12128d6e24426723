import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import ReferralModel
import Storage
import Testing

@testable import Console

/// The console's pieces as Hummingbird gives them: templates read and checked before the gateway
/// starts, forms decoded into typed structs (several ticked boxes included), one context per page.
@Suite struct ConsoleFormTests {
    /// A copy of the built templates to break.
    func templates() throws -> URL {
        let built = try #require(ConsolePages.builtTemplates)
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("console-templates-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: built, to: copy)
        return copy
    }

    @Test func aMissingOrBrokenTemplateStopsStartUpWithItsName() throws {
        let missing = try templates()
        defer { try? FileManager.default.removeItem(at: missing) }
        _ = try ConsolePages(environment: .test, directory: missing)
        try FileManager.default.removeItem(at: missing.appendingPathComponent("inbox.mustache"))
        #expect {
            try ConsolePages(environment: .test, directory: missing)
        } throws: { error in
            "\(error)".contains("inbox.mustache") && "\(error)".contains("is missing")
        }

        let broken = try templates()
        defer { try? FileManager.default.removeItem(at: broken) }
        try "{{<layout}}{{$content}}{{#items}}never closed{{/content}}{{/layout}}".write(
            to: broken.appendingPathComponent("admin-dead.mustache"), atomically: true, encoding: .utf8)
        #expect {
            try ConsolePages(environment: .test, directory: broken)
        } throws: { error in
            "\(error)".contains("admin-dead.mustache") && "\(error)".contains("does not parse")
        }
    }

    @Test func tickedBoxesAndOneLineAnswersDecodeIntoTheirForms() async throws {
        let retry = try URLEncodedFormDecoder().decode(RetryForm.self, from: "csrf=t&delivery%5B%5D=d1&delivery%5B%5D=d2")
        #expect(retry.delivery == ["d1", "d2"])
        let answers = try URLEncodedFormDecoder().decode(
            ReferralAnswers.self, from: "%2Fneeds%5B%5D=falls-prevention&%2Fneeds%5B%5D=befriending&%2Fsubject%2FgivenName=Ada+Lovelace")
        #expect(answers.all("/needs") == ["falls-prevention", "befriending"])
        #expect(answers["/subject/givenName"] == "Ada Lovelace")
        let password = try URLEncodedFormDecoder().decode(PasswordForm.self, from: "password=a+b&repeat=a+b")
        #expect(password.password == "a b" && password.repeated == "a b" && password.current == nil)
    }

    @Test func aPageShowsWhatItsContextHoldsAndLeavesOutWhatItDoesNot() throws {
        let pages = try ConsolePages(environment: .production)
        var frame = PageFrame(title: "Needs attention", csrf: "token-1")
        frame.user = .init(name: "Jo Admin", role: "administrators")
        let page = AttentionPage(
            items: [
                .init(
                    id: "item-1", referralId: "ref-1", agency: nil, reason: "declined with nowhere to go", since: "Mon 7 Dec 2026, 09:00",
                    urgency: "emergency", urgent: true, due: "overdue by 5 min", overdue: true, dueAt: "Mon 7 Dec 2026, 09:30")
            ],
            agencies: [.init(id: "oxford-mh-crisis", name: "Crisis team")])
        let html = pages.html(.adminAttention, frame, page)
        #expect(html.contains("Referral ref-1") && html.contains(#"<strong class="warn">emergency</strong>"#))
        #expect(html.contains(#"<strong class="warn">overdue by 5 min</strong>"#))
        #expect(!html.contains("(at "), "an item at no agency says none")
        #expect(html.contains(#"<option value="oxford-mh-crisis">Crisis team</option>"#))
        #expect(html.contains(#"name="csrf" value="token-1""#) && html.contains("Jo Admin (administrators)"))
        #expect(html.contains("Environment: production") && !html.contains("Test system."))
    }

    @Test func deadLettersTickedOnThePageGoBackInTheQueue() async throws {
        let fixture = try GatewayFixture()
        let store = fixture.components.store
        for _ in 0..<2 {
            _ = try await fixture.components.intake.submit(Array(try exampleReferral()), actor: "test-gp", idempotencyKey: nil)
        }
        let now = fixture.components.clock.now()
        let leased = try await store.leaseDueDeliveries(
            now: now, lanes: fixture.components.rules.live.current.agencies.agencies.map { LaneDemand(agency: $0.id, limit: 10, leaseDuration: 30) })
        _ = try await store.finish(leased.map { DeliveryCompletion(lease: $0, result: .deadLetter(error: "HTTP 500"), audit: [], at: now) })
        try await fixture.test { client in
            var admin = ConsoleBrowser(client)
            _ = try await admin.signIn(GatewayFixture.adminKey)
            let page = try await admin.get("/console/admin/dead")
            let ids = page.body.components(separatedBy: #"name="delivery[]" value=""#).dropFirst().map { String($0.prefix { $0 != "\"" }) }
            #expect(ids.count == leased.count && ids.count >= 2)
            let answer = try await admin.post("/console/admin/dead/retry", ids.map { ("delivery[]", $0) })
            #expect(answer.status == 303)
            let after = try await admin.get("/console/admin/dead")
            #expect(after.body.contains("\(ids.count) dead letters put back in the queue.") && after.body.contains("There are no dead letters."))
        }
    }
}
