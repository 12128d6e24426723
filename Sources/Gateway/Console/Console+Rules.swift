import Deployment
import Foundation
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
    }

    static func title(_ document: GovernedDocument) -> String { document == .rules ? "Routing rules" : "Agencies" }

    /// The live version of `document`: its version, text and record.
    func live(_ document: GovernedDocument) -> (version: String, text: String, record: RulesVersionRecord?) {
        let snapshot = components.rules.live.current
        return document == .rules
            ? (snapshot.rules.version, snapshot.rules.text, snapshot.record)
            : (snapshot.agencies.version, snapshot.agencies.text, snapshot.agenciesRecord)
    }

    func editor(_ document: GovernedDocument, context: GatewayContext, values extra: [String: Any] = [:], status: HTTPResponse.Status = .ok)
        async throws -> Response
    {
        let live = live(document)
        var values: [String: Any] = [
            "document": document.rawValue, "documentTitle": Self.title(document), "liveVersion": live.version, "text": live.text,
            "base": live.version, "approvalRequired": components.rules.approvalRequired.contains(document),
            "appliedBy": live.record?.appliedBy ?? "", "appliedAt": live.record?.appliedAt ?? "", "number": live.record?.number ?? 0,
            "isAgencies": document == .agencies,
        ]
        let proposals = try await components.rules.proposals(of: document, limit: 50).filter { $0.state == .pending }
        values["proposals"] = proposals.map { proposal -> [String: Any] in
            [
                "id": proposal.id, "by": proposal.proposedBy, "at": proposal.proposedAt, "summary": proposal.summary,
                "stale": proposal.baseVersion != live.version,
                "mine": proposal.proposedBy == context.principal?.actor,
            ]
        }
        if document == .agencies {
            values["agencies"] = components.rules.live.current.agencies.agencies.map {
                ["id": $0.id, "name": $0.name, "endpoint": $0.endpoint, "inbox": $0.adapter == Agency.inboxAdapter] as [String: Any]
            }
        }
        values.merge(extra) { _, new in new }
        return pages.page(
            "admin-editor", frame(context, title: Self.title(document), values: Self.present(values), current: "/console/admin/\(document.rawValue)"),
            status: status)
    }

    /// Checks a submitted text; with `action=apply`, makes it live (or proposes it) when it is valid.
    func check(_ document: GovernedDocument, _ request: Request, context: GatewayContext) async throws -> Response {
        let form = try await FormBody.read(request)
        let text = (form["text"] ?? "").replacingOccurrences(of: "\r\n", with: "\n")
        let base = form["base"] ?? ""
        let actor = context.principal?.actor ?? "administrator"
        var values: [String: Any] = ["text": text, "base": base, "referral": form["referral"] ?? "", "referralId": form["referralId"] ?? ""]
        let live = live(document)
        if base != live.version {
            values["stale"] =
                "The live \(document.rawValue) changed (to \(live.version)) since you started this change. The diff below is against what is live now; check it before you apply."
            values["base"] = live.version
        }
        let rules: RuleSet
        do {
            rules = try components.rules.prepare(text, for: document)
        } catch .invalid(let issues) {
            values["problems"] = issues.map { issue -> [String: Any] in
                Self.present(["line": issue.line, "column": issue.column, "message": issue.message, "hint": issue.hint ?? ""])
            }
            values["problemCount"] = "\(issues.count) problem\(issues.count == 1 ? "" : "s")"
            return try await editor(document, context: context, values: values, status: .unprocessableContent)
        } catch {
            throw ConsoleRefusal(status: .forbidden, message: "This gateway cannot change its \(document.rawValue) from the console.")
        }
        let change = components.rules.change(document, from: live.text, to: text)
        values["valid"] = true
        values["summary"] = change.summary
        values["diff"] = Self.diffLines(change.lineDiff)
        values["unchanged"] = live.text == text
        if let referralText = form.trimmed("referral") ?? form.trimmed("referralId") {
            values["dryRun"] = try await dryRun(referralText, proposed: rules)
        }
        if document == .agencies {
            let (endpoints, result) = try await testDeliveries(form, text: text, actor: actor)
            values["newEndpoints"] = endpoints
            if let result { values["testResult"] = result }
        }
        guard form["action"] == "apply", !(values["unchanged"] as? Bool ?? false), values["stale"] == nil else {
            return try await editor(document, context: context, values: values)
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
            values["refusal"] = Self.words(refusal, document)
            return try await editor(document, context: context, values: values, status: .conflict)
        }
    }

    /// How a referral would be routed by the live rules and by `proposed`, rule by rule.
    func dryRun(_ input: String, proposed: RuleSet) async throws -> [String: Any] {
        let referral: Referral
        let now = clock.now()
        if Identifier.isWellFormed(input) {
            guard let stored = try await components.rules.storedReferral(input) else {
                return ["problem": "There is no stored referral \(input)."]
            }
            referral = stored
        } else {
            do {
                referral = try ReferralDecoder(vocabulary: components.configuration.settings.vocabulary).decode(
                    try JSONParser.parse(Array(input.utf8)), today: CalendarDate.string(from: now))
            } catch let error as ReferralDecoder.Failure {
                switch error {
                case .syntax(let syntax): return ["problem": "The referral is not JSON: \(syntax.description)"]
                case .invalid(let failure):
                    return ["problem": "The referral has problems: " + failure.issues.map { "\($0.pointer) \($0.detail)" }.joined(separator: "; ")]
                }
            } catch let syntax as JSONSyntaxError {
                return ["problem": "The referral is not JSON: \(syntax.description)"]
            }
        }
        func outcome(_ rules: RuleSet) async throws -> [String: Any] {
            let dryRun = try await components.rules.dryRun(referral, rules: rules, at: now)
            let (decision, traces) = (dryRun.decision, dryRun.rules)
            let routes = decision.targets.map { "\($0.agency) (\(decision.usedFallback ? "the fallback" : "rule \($0.rule)"))" }
            return [
                "routes": decision.outOfArea ? "held: out of area" : routes.isEmpty ? "nobody" : routes.joined(separator: ", "),
                "rules": traces.map { trace -> [String: Any] in
                    [
                        "id": trace.rule, "matched": !trace.skipped && trace.failure == nil,
                        "why": trace.skipped
                            ? "not considered: an earlier rule stopped the search"
                            : trace.failure.map { "not matched: \($0)" } ?? "matched: sends it to \(trace.agencies.joined(separator: ", "))",
                    ]
                },
            ]
        }
        return ["live": try await outcome(components.rules.live.current.rules), "proposed": try await outcome(proposed)]
    }

    /// The agencies a proposed agencies text adds or sends somewhere new, which the page offers to
    /// test before the change is applied; and, when the form asked (`action=test-ID`), the result
    /// of a test delivery to one of them.
    func testDeliveries(_ form: FormBody, text: String, actor: String) async throws -> (endpoints: [[String: Any]], result: String?) {
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
        if let action = form["action"], action.hasPrefix("test-") {
            let agency = String(action.dropFirst("test-".count))
            if changed.contains(where: { $0.id == agency }),
                let ping = try await components.rules.testDelivery(agency: agency, proposedAgencies: text, by: actor)
            {
                let status = ping.status.map { "HTTP \($0)" } ?? "no answer"
                result =
                    "Test delivery to \(agency) at \(ping.endpoint): \(ping.outcome) (\(status), \(ping.milliseconds) ms)\(ping.detail.map { ": \($0)" } ?? ".")"
            }
        }
        let endpoints = changed.map { agency -> [String: Any] in
            ["id": agency.id, "name": agency.name, "endpoint": agency.endpoint, "new": live[agency.id] == nil]
        }
        return (endpoints, result)
    }

    /// A unified diff's lines, each marked added, removed or context for the page to colour.
    static func diffLines(_ diff: String) -> [[String: Any]] {
        diff.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            let kind = line.hasPrefix("+++") || line.hasPrefix("---") ? "head" : line.hasPrefix("+") ? "add" : line.hasPrefix("-") ? "del" : "same"
            return ["line": String(line), "kind": kind]
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
        return pages.page(
            "admin-history",
            frame(
                context, title: "\(Self.title(document)): history",
                values: [
                    "document": document.rawValue, "documentTitle": Self.title(document), "base": live.version,
                    "approvalRequired": components.rules.approvalRequired.contains(document),
                    "versions": versions.map { record -> [String: Any] in
                        [
                            "number": record.number, "version": record.version, "at": record.appliedAt, "by": record.appliedBy,
                            "source": record.source, "summary": record.summary, "live": record.version == live.version,
                        ]
                    },
                ], current: "/console/admin/\(document.rawValue)"))
    }

    func rollback(_ document: GovernedDocument, _ request: Request, context: GatewayContext) async throws -> Response {
        let form = try await FormBody.read(request)
        guard let number = form["number"].flatMap(Int.init), number >= 1 else {
            throw ConsoleRefusal(status: .badRequest, message: "Choose the version to roll back to.")
        }
        let actor = context.principal?.actor ?? "administrator"
        do {
            switch try await components.rules.rollback(to: number, of: document, ifMatch: [form["base"] ?? ""], actor: actor) {
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
        let form = try await FormBody.read(request)
        let id = context.parameters.get("id") ?? ""
        let actor = context.principal?.actor ?? "administrator"
        do {
            if approving {
                let outcome = try await components.rules.approve(id, actor: actor)
                await tell(context, "Approved: version \(outcome.record.number) is live (\(outcome.change.summary)).")
                return ConsolePages.redirect("/console/admin/\(document.rawValue)/history")
            }
            _ = try await components.rules.reject(id, actor: actor, reason: form.trimmed("reason"))
            await tell(context, "The proposal is rejected; nothing changed.")
        } catch let refusal as RulesAdministrator.Refusal {
            await tell(context, Self.words(refusal, document))
        }
        return ConsolePages.redirect("/console/admin/\(document.rawValue)")
    }

    /// A test delivery (no personal data) to an agency's endpoint, with its own signing and TLS.
    func testDelivery(context: GatewayContext) async throws -> Response {
        let agency = context.parameters.get("agency") ?? ""
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
