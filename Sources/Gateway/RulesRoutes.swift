import APIDocuments
import Foundation
import HTTPEdge
import HTTPTypes
import Hummingbird
import NIOCore
import ReferralModel
import Routing
import Settings
import UseCases

/// The administrators' API for a governed document (the rules, or the agencies): read what is
/// live, test a referral against the rules (or a proposed text), apply a new text, list and read
/// stored versions, roll back; and where approval is required, propose, approve and reject
/// (`ProposalRoutes.swift`).
struct RulesRoutes: Sendable {
    let administrator: RulesAdministrator
    let decoder: ReferralDecoder
    let clock: any WallClock
    var document: GovernedDocument = .rules

    /// The document's name in messages and its path in the API.
    var noun: String { document.rawValue }

    /// `GET /v1/rules`: the live version and its text, with the version as the ETag.
    func show(_ request: Request, context: GatewayContext) async throws -> Response {
        let snapshot = administrator.live.current
        let record = snapshot.record
        let body = LiveRulesDocument(
            version: snapshot.rules.version, number: record?.number, appliedAt: record?.appliedAt, appliedBy: record?.appliedBy,
            source: record?.source, rules: snapshot.rules.rules.map(\.id), fallback: snapshot.rules.fallback.rawValue, text: snapshot.rules.text)
        var response = try JSONResponse.make(body, status: .ok)
        response.headers[.eTag] = Self.entityTag(snapshot.rules.version)
        return response
    }

    /// `GET /v1/agencies`: the live agencies and their text, with the version as the ETag.
    func showAgencies(_ request: Request, context: GatewayContext) async throws -> Response {
        let snapshot = administrator.live.current
        let record = snapshot.agenciesRecord
        let body = LiveAgenciesDocument(
            version: snapshot.agencies.version, number: record?.number, appliedAt: record?.appliedAt, appliedBy: record?.appliedBy,
            source: record?.source, agencies: snapshot.agencies.agencies.map(\.id.rawValue), text: snapshot.agencies.text,
            approvalRequired: administrator.approvalRequired.contains(.agencies))
        var response = try JSONResponse.make(body, status: .ok)
        response.headers[.eTag] = Self.entityTag(snapshot.agencies.version)
        return response
    }

    /// `PUT /v1/rules` or `/v1/agencies`: validates the YAML body and makes it live, if `If-Match`
    /// names the live version.
    func replace(_ request: Request, context: GatewayContext) async throws -> Response {
        let (text, ifMatch, actor) = try await yamlChange(request, context: context)
        return try await answer { try await administrator.apply(text, to: document, ifMatch: ifMatch, actor: actor) }
    }

    /// A YAML body with `If-Match`, from an identified administrator.
    func yamlChange(_ request: Request, context: GatewayContext) async throws -> (text: String, ifMatch: [String], actor: String) {
        guard let principal = context.principal else { throw ProblemResponse(.unauthorised, detail: "An API key is required.") }
        try requireYAML(request)
        let ifMatch = try ifMatch(request)
        return (try await yamlText(request), ifMatch, principal.actor)
    }

    /// Requires a YAML body (415 otherwise).
    func requireYAML(_ request: Request) throws {
        let type = request.headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
        guard let type, ["application/yaml", "application/x-yaml", "text/yaml"].contains(type) else {
            throw ProblemResponse(.unsupportedMediaType, detail: "Send the \(noun) file as YAML with 'Content-Type: application/yaml'.")
        }
    }

    /// The body as UTF-8 text.
    func yamlText(_ request: Request) async throws -> String {
        let body = try await request.body.collect(upTo: BodyLimitMiddleware.limit)
        guard let text = String(validating: body.readableBytesView, as: UTF8.self) else {
            throw ProblemResponse(
                invalidKind, detail: "The \(noun) are not UTF-8 text.", errors: [FieldIssue(pointer: "", detail: "is not UTF-8 text.")])
        }
        return text
    }

    /// `POST /v1/agencies/test?agency=ID`: a signed test delivery (no referral, no personal data) to
    /// agency ID as the agencies file in the body describes it (a new agency, or a new endpoint,
    /// secret or TLS setting), before that file is live: what the console's editor offers beside a
    /// checked change. The file is validated first (422 with its problems); audited like a ping.
    func testProposed(_ request: Request, context: GatewayContext) async throws -> Response {
        guard let principal = context.principal else { throw ProblemResponse(.unauthorised, detail: "An API key is required.") }
        try requireYAML(request)
        guard let agency = request.uri.queryParameters.get("agency").map({ String($0) }), QueueRoutes.isAgencyId(agency) else {
            throw ProblemResponse(
                .invalidRequest, detail: "Name the agency to test: POST /v1/agencies/test?agency=ID.",
                errors: [FieldIssue(pointer: "/agency", detail: "is required: an agency id from the file, letters, digits and hyphens.")])
        }
        let text = try await yamlText(request)
        do {
            _ = try administrator.prepare(text, for: .agencies)
            guard let result = try await administrator.testDelivery(agency: AgencyID(agency), proposedAgencies: text, by: principal.actor) else {
                throw ProblemResponse(.notFound, detail: "The agencies file names no agency \(agency) with an endpoint to test.")
            }
            return try JSONResponse.make(result, status: .ok)
        } catch let refusal as RulesAdministrator.Refusal {
            throw problem(refusal)
        }
    }

    var invalidKind: ProblemType { document == .rules ? .invalidRules : .invalidAgencies }

    /// `POST /v1/rules/rollback`: makes a stored version live again, as a new version.
    func rollback(_ request: Request, context: GatewayContext) async throws -> Response {
        guard let principal = context.principal else { throw ProblemResponse(.unauthorised, detail: "An API key is required.") }
        try JSONResponse.requireJSON(request)
        let ifMatch = try ifMatch(request)
        let object = try await Self.jsonObject(request)
        guard case .number(let value, isInteger: true)? = object["version"], value >= 1, value <= 1e9 else {
            throw ProblemResponse(
                .invalidRequest, detail: "Name the version to roll back to as {\"version\": N}; `switchboard \(noun) history` lists them.",
                errors: [FieldIssue(pointer: "/version", detail: "must be a whole number of 1 or more.")])
        }
        let unknown = object.members.map(\.key).filter { $0 != "version" }
        guard unknown.isEmpty else {
            throw ProblemResponse(
                .invalidRequest, detail: "The body may hold only version.",
                errors: unknown.map { FieldIssue(pointer: jsonPointer("", $0), detail: "is not a member this request knows.") })
        }
        let rollback: RulesAdministrator.Rollback
        do {
            rollback = try await administrator.rollback(to: Int(value), of: document, ifMatch: ifMatch, actor: principal.actor)
        } catch let refusal as RulesAdministrator.Refusal {
            throw problem(refusal)
        }
        switch rollback {
        case .live(let outcome): return try changed(outcome)
        // Where changes need approval, going back is proposed like any other change.
        case .proposed(let proposed): return try created(proposed)
        }
    }

    /// `POST /v1/rules/test`: how a referral would be routed, rule by rule, by the live rules or by
    /// the proposed `rules` text, at `at` or now. Nothing is stored.
    func test(_ request: Request, context: GatewayContext) async throws -> Response {
        try JSONResponse.requireJSON(request)
        let object = try await Self.jsonObject(request)
        var issues: [FieldIssue] = []
        for key in object.members.map(\.key) where !["referral", "at", "rules"].contains(key) {
            issues.append(FieldIssue(pointer: jsonPointer("", key), detail: "is not a member this request knows; use referral, at and rules."))
        }
        var at = clock.now()
        switch object["at"] {
        case nil: break
        case .string(let text)?:
            if let parsed = ISO8601DateFormatter().date(from: text) {
                at = parsed
            } else {
                issues.append(FieldIssue(pointer: "/at", detail: "must be an RFC 3339 time such as 2026-12-25T18:30:00Z."))
            }
        case let other?: issues.append(FieldIssue(pointer: "/at", detail: "must be a string, not \(other.kindName)."))
        }
        var proposed: String?
        switch object["rules"] {
        case nil: break
        case .string(let text)?: proposed = text
        case let other?: issues.append(FieldIssue(pointer: "/rules", detail: "must be the rules file's text as a string, not \(other.kindName)."))
        }
        guard let document = object["referral"] else {
            issues.append(FieldIssue(pointer: "/referral", detail: "is required: the referral to route, as POST /v1/referrals takes it."))
            throw ProblemResponse(
                .invalidRequest, detail: "The test request has \(issues.count) problem\(issues.count == 1 ? "" : "s").", errors: issues)
        }
        guard issues.isEmpty else {
            throw ProblemResponse(
                .invalidRequest, detail: "The test request has \(issues.count) problem\(issues.count == 1 ? "" : "s").", errors: issues)
        }
        let referral: Referral
        do {
            referral = try decoder.decode(document, today: CalendarDate.string(from: at))
        } catch .invalid(let failure) {
            let moved = failure.issues.map { FieldIssue(pointer: "/referral" + $0.pointer, detail: $0.detail) }
            throw ProblemResponse(.invalidReferral, detail: "The referral has \(moved.count) problem\(moved.count == 1 ? "" : "s").", errors: moved)
        } catch .syntax(let error) {
            throw ProblemResponse(.malformedJSON, detail: error.description)
        }
        let rules: RuleSet
        if let proposed {
            do {
                rules = try administrator.validate(proposed)
            } catch {
                // The text is one JSON string: its problems point at it, with line and column within.
                throw Self.invalidRules(error.issues, at: "/rules")
            }
        } else {
            rules = administrator.live.current.rules
        }
        let dryRun = try await administrator.dryRun(referral, rules: rules, at: at)
        let (decision, traces) = (dryRun.decision, dryRun.rules)
        let body = RulesTestResult(
            rulesVersion: decision.rulesVersion, receivedAt: Timestamp.string(at),
            rules: traces.map {
                RulesTestResult.RuleResult(
                    id: $0.rule, result: $0.skipped ? "not-considered" : $0.failure == nil ? "matched" : "not-matched", failure: $0.failure,
                    agencies: $0.skipped || $0.failure != nil ? nil : $0.agencies.map(\.rawValue))
            },
            routes: decision.targets.map { .init(agency: $0.agency.rawValue, rule: $0.rule, alternatives: $0.alternatives.map(\.rawValue)) },
            usedFallback: decision.usedFallback, outOfArea: decision.outOfArea ? true : nil)
        return try JSONResponse.make(body, status: .ok)
    }

    /// `GET /v1/rules/versions` (or agencies): the stored versions, newest first.
    func history(_ request: Request, context: GatewayContext) async throws -> Response {
        let versions = try await administrator.history(of: document, limit: 1_000)
        return try JSONResponse.make(RulesVersionList(versions: versions), status: .ok)
    }

    /// `GET /v1/rules/versions/{number}`: one stored version with its text and its diff against
    /// the version before it.
    func version(_ request: Request, context: GatewayContext) async throws -> Response {
        let text = context.parameters.get("number") ?? ""
        guard let number = Int(text), number >= 1, String(number) == text, let record = try await administrator.version(number, of: document) else {
            throw ProblemResponse(.notFound, detail: "There is no \(noun) version with this number; `switchboard \(noun) history` lists them.")
        }
        let previous = number > 1 ? try await administrator.version(number - 1, of: document) : nil
        let change = administrator.change(
            document, from: previous?.text ?? "", to: record.text ?? "", oldName: previous.map { "version \($0.number)" } ?? "none",
            newName: "version \(number)")
        let body = RulesVersionDocument(record: record, diff: change.lineDiff)
        var response = try JSONResponse.make(body, status: .ok)
        response.headers[.eTag] = Self.entityTag(record.version)
        return response
    }

    /// Runs a change and answers with what came of it, or the problem that stopped it.
    func answer(_ change: () async throws -> RulesAdministrator.Outcome) async throws -> Response {
        do {
            return try changed(try await change())
        } catch let refusal as RulesAdministrator.Refusal {
            throw problem(refusal)
        }
    }

    /// 200 with what a change made live, and its version as the `ETag`.
    func changed(_ outcome: RulesAdministrator.Outcome) throws -> Response {
        let body = RulesChangeResult(
            applied: outcome.applied, number: outcome.record.number, version: outcome.record.version,
            previousVersion: outcome.previousVersion, summary: outcome.applied ? outcome.change.summary : "no change",
            diff: outcome.change.lineDiff)
        var response = try JSONResponse.make(body, status: .ok)
        response.headers[.eTag] = Self.entityTag(outcome.record.version)
        return response
    }

    /// The problem a refused change answers with.
    func problem(_ refusal: RulesAdministrator.Refusal) -> ProblemResponse {
        switch refusal {
        case .stale(let live):
            var headers = HTTPFields()
            headers[.eTag] = Self.entityTag(live)
            return ProblemResponse(
                .preconditionFailed,
                detail:
                    "The live \(noun) are \(live), not the version this change was made against: someone changed them since. Read them again (GET /v1/\(noun)), check your change against them, and send it with If-Match: \"\(live)\".",
                headers: headers)
        case .invalid(let issues):
            return invalid(issues, at: nil)
        case .noSuchVersion(let number):
            return ProblemResponse(.notFound, detail: "There is no \(noun) version \(number); `switchboard \(noun) history` lists them.")
        case .approvalRequired(let document):
            return ProblemResponse(
                .approvalRequired,
                detail:
                    "Changes to the \(document.rawValue) need a second administrator's approval here: propose it with POST /v1/\(document.rawValue)/proposals (`switchboard \(document.rawValue) propose FILE`), and another administrator approves it."
            )
        case .noSuchProposal:
            return ProblemResponse(.notFound, detail: "There is no such proposal; `switchboard \(noun) proposals` lists them.")
        case .notPending(let state):
            return ProblemResponse(.proposalDecided, detail: "The proposal is already \(state.rawValue); nothing changed.")
        case .sameAdministrator:
            return ProblemResponse(
                .forbidden, detail: "You proposed this change: a second administrator must approve it. You may withdraw it with reject.")
        case .agenciesFixed:
            return ProblemResponse(.forbidden, detail: "This gateway cannot change its agencies through the API.")
        }
    }

    /// Problems in a text, each with its line and column.
    func invalid(_ issues: [ConfigIssue], at member: String?) -> ProblemResponse {
        document == .rules ? Self.invalidRules(issues, at: member) : Self.invalidAgencies(issues)
    }

    static func invalidAgencies(_ issues: [ConfigIssue]) -> ProblemResponse {
        ProblemResponse(
            .invalidAgencies,
            detail:
                "The change has \(issues.count) problem\(issues.count == 1 ? "" : "s"); each is listed in errors with its file, line and column. Nothing changed.",
            errors: issues.map {
                FieldIssue(pointer: $0.path ?? "", detail: "\($0.file): \($0.message)", line: $0.line, column: $0.column, hint: $0.hint)
            })
    }

    /// - Parameter member: where the rules text sits in a JSON body; nil when it is the whole body,
    ///   and each problem's pointer is its place in the YAML document.
    static func invalidRules(_ issues: [ConfigIssue], at member: String?) -> ProblemResponse {
        ProblemResponse(
            .invalidRules,
            detail:
                "The rules have \(issues.count) problem\(issues.count == 1 ? "" : "s"); each is listed in errors with its line and column. The live rules did not change.",
            errors: issues.map {
                FieldIssue(pointer: member ?? $0.path ?? "", detail: $0.message, line: $0.line, column: $0.column, hint: $0.hint)
            })
    }

    static func entityTag(_ version: String) -> String { "\"\(version)\"" }

    /// The versions `If-Match` names; 428 when it is missing, since an unconditional change could
    /// silently undo someone else's; 422 when it is not `*` or a list of entity tags (RFC 9110).
    func ifMatch(_ request: Request) throws -> [String] {
        guard let header = request.headers[.ifMatch] else {
            throw ProblemResponse(
                .preconditionRequired,
                detail:
                    "Send If-Match with the live version's ETag from GET /v1/\(noun), so a change made meanwhile is not overwritten; `switchboard \(noun) apply` does this for you."
            )
        }
        guard let tags = Self.entityTags(header) else {
            throw ProblemResponse(
                .invalidRequest,
                detail: "If-Match must be * or entity tags in quotes, such as \"sha256:0123456789ab\", as GET /v1/rules sends in ETag.",
                errors: [FieldIssue(pointer: "", detail: "the If-Match header is not * or a list of quoted entity tags.")])
        }
        return tags
    }

    /// `*`, or the values of a comma-separated list of entity tags (`"x"` or `W/"x"`); nil when the
    /// header is neither.
    static func entityTags(_ header: String) -> [String]? {
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        if trimmed == "*" { return ["*"] }
        var tags: [String] = []
        for part in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
            var tag = Substring(part.trimmingCharacters(in: .whitespaces))
            if tag.hasPrefix("W/") { tag = tag.dropFirst(2) }
            // etagc is any visible character but the double quote (RFC 9110, 8.8.3).
            guard tag.count >= 2, tag.first == "\"", tag.last == "\"" else { return nil }
            let value = tag.dropFirst().dropLast()
            guard value.unicodeScalars.allSatisfy({ $0 == "\u{21}" || ($0.value >= 0x23 && $0.value <= 0x7E) || $0.value >= 0x80 }) else {
                return nil
            }
            tags.append(String(value))
        }
        return tags
    }

    /// The body as a JSON object, read strictly.
    static func jsonObject(_ request: Request) async throws -> JSONObject {
        let body = try await request.body.collect(upTo: BodyLimitMiddleware.limit)
        let document: JSONValue
        do {
            document = try JSONParser.parse(body.readableBytesView)
        } catch {
            throw ProblemResponse(.malformedJSON, detail: error.description)
        }
        guard case .object(let object) = document else {
            throw ProblemResponse(
                .invalidRequest, detail: "The body must be a JSON object.",
                errors: [FieldIssue(pointer: "", detail: "must be an object, not \(document.kindName).")])
        }
        return object
    }
}
