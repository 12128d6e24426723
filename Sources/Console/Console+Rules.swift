import Deployment
import Foundation
import HTTPEdge
import HTTPTypes
import Hummingbird
import ReferralModel
import Routing
import Settings
import UseCases

/// The rules and agencies editors: the live text, a change checked as it is submitted (every
/// problem with its line), its diff against the live version and a dry run against a referral,
/// then apply (or propose, where a second administrator must approve), history and rollback.
extension Console {
    func addRulesRoutes(_ admin: RouterGroup<GatewayContext>, document: GovernedDocument) {
        let name = document.rawValue
        admin.get(.init(stringLiteral: name)) { _, context in try await editor(document, context: context) }
        admin.post(.init(stringLiteral: "\(name)/check")) { request, context in try await check(document, request, context: context) }
        admin.get(.init(stringLiteral: "\(name)/history")) { _, context in try await history(document, context: context) }
        admin.post(.init(stringLiteral: "\(name)/rollback")) { request, context in try await rollback(document, request, context: context) }
        admin.post(.init(stringLiteral: "\(name)/proposals/{id}/approve")) { request, context in
            try await decide(document, request, context: context, approving: true)
        }
        admin.post(.init(stringLiteral: "\(name)/proposals/{id}/reject")) { request, context in
            try await decide(document, request, context: context, approving: false)
        }
        if document == .agencies {
            admin.post("agencies/{agency}/test") { _, context in try await testDelivery(context: context) }
        }
        addImpactRoutes(admin, document: document)
    }

    static func title(_ document: GovernedDocument) -> String { document == .rules ? "Routing rules" : "Agencies" }

    /// The live version of `document`: its version, text and record.
    func live(_ document: GovernedDocument) -> (version: String, text: String, record: RulesVersionRecord?) {
        let snapshot = components.rules.live.current
        return document == .rules
            ? (snapshot.rules.version, snapshot.rules.text, snapshot.record)
            : (snapshot.agencies.version, snapshot.agencies.text, snapshot.agenciesRecord)
    }

    /// The editor page for `document`; `adjust` adds what a check of a submitted text found.
    func editor(
        _ document: GovernedDocument, context: GatewayContext, status: HTTPResponse.Status = .ok, adjust: (inout EditorPage) -> Void = { _ in }
    ) async throws -> Response {
        let live = live(document)
        let proposals = try await components.rules.proposals(of: document, limit: 50).filter { $0.state == .pending }
        var page = EditorPage(
            document: document.rawValue, documentTitle: Self.title(document), liveVersion: live.version, text: live.text, base: live.version,
            approvalRequired: components.rules.approvalRequired.contains(document), appliedBy: TemplateValues.nonEmpty(live.record?.appliedBy),
            appliedAt: live.record?.appliedAt, number: live.record?.number ?? 0, isAgencies: document == .agencies,
            proposals: proposals.map {
                .init(
                    id: $0.id, by: $0.proposedBy, at: $0.proposedAt, summary: $0.summary, stale: $0.baseVersion != live.version,
                    mine: $0.proposedBy == context.principal?.actor)
            })
        if document == .agencies {
            page.agencies = components.rules.live.current.agencies.agencies.map {
                .init(id: $0.id, name: $0.name, endpoint: $0.endpoint, inbox: $0.adapter == Agency.inboxAdapter)
            }
        }
        adjust(&page)
        return pages.page(
            .adminEditor, frame(context, title: Self.title(document), current: "/console/admin/\(document.rawValue)"), page, status: status)
    }

    /// Checks a submitted text; with `action=apply`, makes it live (or proposes it) when it is valid.
    func check(_ document: GovernedDocument, _ request: Request, context: GatewayContext) async throws -> Response {
        let form = try await ConsoleForm.decode(EditorForm.self, from: request)
        let text = (form.text ?? "").replacingOccurrences(of: "\r\n", with: "\n")
        let base = form.base ?? ""
        let actor = context.principal?.actor ?? "administrator"
        var found = EditorPage.Check(text: text, base: base, referral: form.referral, referralId: form.referralId)
        let live = live(document)
        if base != live.version {
            found.stale =
                "The live \(document.rawValue) changed (to \(live.version)) since you started this change. The diff below is against what is live now; check it before you apply."
            found.base = live.version
        }
        let rules: RuleSet
        do {
            rules = try components.rules.prepare(text, for: document)
        } catch .invalid(let issues) {
            found.problems = issues.map { .init(line: $0.line, column: $0.column, message: $0.message, hint: $0.hint) }
            found.problemCount = "\(issues.count) problem\(issues.count == 1 ? "" : "s")"
            return try await editor(document, context: context, status: .unprocessableContent) { $0.check = found }
        } catch {
            throw ConsoleRefusal(status: .forbidden, message: "This gateway cannot change its \(document.rawValue) from the console.")
        }
        let change = components.rules.change(document, from: live.text, to: text)
        found.valid = true
        found.summary = change.summary
        found.diff = Self.diffLines(change.lineDiff)
        found.unchanged = live.text == text
        if let referralText = ConsoleForm.trimmed(form.referral) ?? ConsoleForm.trimmed(form.referralId) {
            found.dryRun = try await dryRun(referralText, proposed: rules)
        }
        if document == .agencies {
            (found.newEndpoints, found.testResult) = try await testDeliveries(form.action, text: text, actor: actor)
        }
        if !found.unchanged { found.impact = await impactView(of: text, document: document) }
        guard form.action == "apply", !found.unchanged, found.stale == nil else {
            return try await editor(document, context: context) { $0.check = found }
        }
        do {
            if components.rules.approvalRequired.contains(document) {
                let proposed = try await components.rules.propose(text, to: document, ifMatch: [base], actor: actor)
                await tell(
                    context, "Your change is proposed (\(proposed.change.summary)). Another administrator must approve it before it goes live.")
                return ConsolePages.redirect("/console/admin/\(document.rawValue)")
            }
            let outcome = try await components.rules.apply(text, to: document, ifMatch: [base], actor: actor)
            await tell(context, "Version \(outcome.record.number) is live: \(outcome.change.summary).")
            return ConsolePages.redirect("/console/admin/\(document.rawValue)/history")
        } catch let refusal as RulesAdministrator.Refusal {
            found.refusal = Self.words(refusal, document)
            return try await editor(document, context: context, status: .conflict) { $0.check = found }
        }
    }

    /// How a referral would be routed by the live rules and by `proposed`, rule by rule.
    func dryRun(_ input: String, proposed: RuleSet) async throws -> EditorPage.DryRun {
        let referral: Referral
        let now = clock.now()
        if Identifier.isWellFormed(input) {
            guard let stored = try await components.rules.storedReferral(ReferralID(input)) else {
                return .init(problem: "There is no stored referral \(input).")
            }
            referral = stored
        } else {
            do {
                referral = try ReferralDecoder(vocabulary: components.configuration.settings.vocabulary).decode(
                    try JSONParser.parse(Array(input.utf8)), today: CalendarDate.string(from: now))
            } catch let error as ReferralDecoder.Failure {
                switch error {
                case .syntax(let syntax): return .init(problem: "The referral is not JSON: \(syntax.description)")
                case .invalid(let failure):
                    return .init(problem: "The referral has problems: " + failure.issues.map { "\($0.pointer) \($0.detail)" }.joined(separator: "; "))
                }
            } catch let syntax as JSONSyntaxError {
                return .init(problem: "The referral is not JSON: \(syntax.description)")
            }
        }
        func outcome(_ rules: RuleSet) async throws -> EditorPage.Outcome {
            let dryRun = try await components.rules.dryRun(referral, rules: rules, at: now)
            let (decision, traces) = (dryRun.decision, dryRun.rules)
            let routes = decision.targets.map { "\($0.agency) (\(decision.usedFallback ? "the fallback" : "rule \($0.rule)"))" }
            return .init(
                routes: decision.outOfArea ? "held: out of area" : routes.isEmpty ? "nobody" : routes.joined(separator: ", "),
                rules: traces.map { trace in
                    .init(
                        id: trace.rule, matched: !trace.skipped && trace.failure == nil,
                        why: trace.skipped
                            ? "not considered: an earlier rule stopped the search"
                            : trace.failure.map { "not matched: \($0)" } ?? "matched: sends it to \(trace.agencies.joined(separator: ", "))")
                })
        }
        return .init(live: try await outcome(components.rules.live.current.rules), proposed: try await outcome(proposed))
    }

    /// The agencies a proposed agencies text adds or sends somewhere new, which the page offers to
    /// test before the change is applied; and, when the form asked (`action=test-ID`), the result
    /// of a test delivery to one of them.
    func testDeliveries(_ action: String?, text: String, actor: String) async throws -> (endpoints: [EditorPage.Endpoint], result: String?) {
        let live = components.rules.live.current.agencies
        let proposed =
            (try? AgencyDirectory.parse(
                text, file: "agencies.yaml", adapters: DeploymentConfiguration.adapterNames,
                vocabulary: components.configuration.settings.vocabulary))?.agencies ?? []
        // New, or reaching its system differently: where, with which adapter, secret, credentials or TLS.
        let changed = proposed.filter { agency in
            guard agency.adapter != Agency.inboxAdapter else { return false }
            guard let old = live[agency.id] else { return true }
            return old.endpoint != agency.endpoint || old.adapter != agency.adapter || old.secretEnv != agency.secretEnv
                || old.authorization != agency.authorization || old.tls != agency.tls
        }
        var result: String?
        if let action, action.hasPrefix("test-") {
            let agency = AgencyID(String(action.dropFirst("test-".count)))
            if changed.contains(where: { $0.id == agency }),
                let ping = try await components.rules.testDelivery(agency: agency, proposedAgencies: text, by: actor)
            {
                let status = ping.status.map { "HTTP \($0)" } ?? "no answer"
                result =
                    "Test delivery to \(agency) at \(ping.endpoint): \(ping.outcome) (\(status), \(ping.milliseconds) ms)\(ping.detail.map { ": \($0)" } ?? ".")"
            }
        }
        return (changed.map { .init(id: $0.id, name: $0.name, endpoint: $0.endpoint, new: live[$0.id] == nil) }, result)
    }

    /// A unified diff's lines, each marked added, removed or context for the page to colour.
    static func diffLines(_ diff: String) -> [EditorPage.DiffLine] {
        diff.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            let kind = line.hasPrefix("+++") || line.hasPrefix("---") ? "head" : line.hasPrefix("+") ? "add" : line.hasPrefix("-") ? "del" : "same"
            return .init(line: String(line), kind: kind)
        }
    }

    static func words(_ refusal: RulesAdministrator.Refusal, _ document: GovernedDocument) -> String {
        switch refusal {
        case .stale(let live):
            "Someone changed the \(document.rawValue) (now \(live)) while you worked: check your change against them and submit it again."
        case .invalid(let issues): "The change has \(issues.count) problems; nothing changed."
        case .noSuchVersion(let number): "There is no version \(number)."
        case .approvalRequired: "Changes here need a second administrator's approval: propose it instead."
        case .noSuchProposal: "There is no such proposal."
        case .notPending(let state): "That proposal is already \(state.rawValue); nothing changed."
        case .sameAdministrator: "You proposed this change: another administrator must approve it. You may withdraw it."
        case .agenciesFixed: "This gateway cannot change its agencies from the console."
        }
    }

    func history(_ document: GovernedDocument, context: GatewayContext) async throws -> Response {
        let versions = try await components.rules.history(of: document, limit: 200)
        let live = live(document)
        let page = HistoryPage(
            document: document.rawValue, base: live.version, approvalRequired: components.rules.approvalRequired.contains(document),
            versions: versions.map {
                .init(
                    number: $0.number, version: $0.version, at: $0.appliedAt, by: $0.appliedBy, source: $0.source, summary: $0.summary,
                    live: $0.version == live.version)
            })
        return pages.page(
            .adminHistory, frame(context, title: "\(Self.title(document)): history", current: "/console/admin/\(document.rawValue)"), page)
    }

    func rollback(_ document: GovernedDocument, _ request: Request, context: GatewayContext) async throws -> Response {
        let form = try await ConsoleForm.decode(RollbackForm.self, from: request)
        guard let number = form.number.flatMap(Int.init), number >= 1 else {
            throw ConsoleRefusal(status: .badRequest, message: "Choose the version to roll back to.")
        }
        let actor = context.principal?.actor ?? "administrator"
        do {
            switch try await components.rules.rollback(to: number, of: document, ifMatch: [form.base ?? ""], actor: actor) {
            case .proposed(let proposed):
                await tell(
                    context,
                    "Going back to version \(number) is proposed (\(proposed.change.summary)). Another administrator must approve it before it goes live."
                )
                return ConsolePages.redirect("/console/admin/\(document.rawValue)")
            case .live(let outcome):
                await tell(context, "Version \(number) is live again, as version \(outcome.record.number).")
            }
        } catch let refusal as RulesAdministrator.Refusal {
            await tell(context, Self.words(refusal, document))
        }
        return ConsolePages.redirect("/console/admin/\(document.rawValue)/history")
    }

    func decide(_ document: GovernedDocument, _ request: Request, context: GatewayContext, approving: Bool) async throws -> Response {
        let form = try await ConsoleForm.decode(DecisionForm.self, from: request)
        let id = context.parameters.get("id") ?? ""
        let actor = context.principal?.actor ?? "administrator"
        do {
            if approving {
                let outcome = try await components.rules.approve(id, actor: actor)
                await tell(context, "Approved: version \(outcome.record.number) is live (\(outcome.change.summary)).")
                return ConsolePages.redirect("/console/admin/\(document.rawValue)/history")
            }
            _ = try await components.rules.reject(id, actor: actor, reason: ConsoleForm.trimmed(form.reason))
            await tell(context, "The proposal is rejected; nothing changed.")
        } catch let refusal as RulesAdministrator.Refusal {
            await tell(context, Self.words(refusal, document))
        }
        return ConsolePages.redirect("/console/admin/\(document.rawValue)")
    }

    /// A test delivery (no personal data) to an agency's endpoint, with its own signing and TLS.
    func testDelivery(context: GatewayContext) async throws -> Response {
        let agency = AgencyID(context.parameters.get("agency") ?? "")
        guard let result = try await components.queue.ping(agency: agency, by: context.principal?.actor ?? "administrator") else {
            throw ConsoleRefusal(status: .notFound, message: "There is no agency \(agency) in the configuration.")
        }
        let status = result.status.map { "HTTP \($0)" } ?? "no answer"
        await tell(
            context,
            "Test delivery to \(agency) at \(result.endpoint): \(result.outcome) (\(status), \(result.milliseconds) ms)\(result.detail.map { ": \($0)" } ?? ".")"
        )
        return ConsolePages.redirect("/console/admin/agencies")
    }
}
