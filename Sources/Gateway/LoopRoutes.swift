import Foundation
import HTTPEdge
import HTTPTypes
import Hummingbird
import ReferralModel
import UseCases

/// The closed loop over HTTP: an agency's worklist and its answers, an agency's view of a
/// referral, and the administrators' attention list.
struct LoopRoutes: Sendable {
    let loop: ReferralLoop

    /// `GET /v1/agency/referrals?state=S[,S]&limit=N&before=ID`: the key's agency's deliveries, newest first.
    func worklist(_ request: Request, context: GatewayContext) async throws -> Response {
        let agency = try Self.agency(context)
        var issues: [FieldIssue] = []
        let parameters = request.uri.queryParameters
        for (name, _) in parameters where !["state", "limit", "before"].contains(String(name)) {
            issues.append(
                FieldIssue(pointer: "/\(Self.printable(String(name)))", detail: "is not a parameter this request knows; use state, limit and before.")
            )
        }
        var states: Set<DeliveryState>?
        if let text = parameters.get("state") {
            let parsed = text.split(separator: ",").map { DeliveryState(rawValue: String($0)) }
            if parsed.isEmpty || parsed.contains(nil) {
                issues.append(
                    FieldIssue(
                        pointer: "/state",
                        detail: "must be one or more of \(DeliveryState.allCases.map(\.rawValue).joined(separator: ", ")), comma-separated."))
            } else {
                states = Set(parsed.compactMap { $0 })
            }
        }
        var limit = 50
        if let text = parameters.get("limit") {
            if let value = Int(text), (1...500).contains(value) {
                limit = value
            } else {
                issues.append(FieldIssue(pointer: "/limit", detail: "must be a whole number from 1 to 500."))
            }
        }
        let before = parameters.get("before")
        if let before, !Identifier.isWellFormed(before) {
            issues.append(FieldIssue(pointer: "/before", detail: "must be a delivery id from an earlier page."))
        }
        guard issues.isEmpty else { throw ProblemResponse(.invalidRequest, detail: "The query is not valid.", errors: issues) }
        let items = try await loop.worklist(agency: agency, states: states, limit: limit, before: before.map { DeliveryID(String($0)) })
        return try JSONResponse.make(
            Worklist(agency: agency, referrals: items, next: items.count == limit ? items.last?.deliveryId : nil), status: .ok)
    }

    /// `GET /v1/referrals/{id}` with an agency key: only that agency's view.
    func view(_ id: String, context: GatewayContext) async throws -> Response {
        let agency = try Self.agency(context)
        guard let view = try await loop.view(referralId: ReferralID(id), agency: agency, actor: context.principal?.actor ?? agency.rawValue) else {
            throw ProblemResponse(.notFound, detail: "There is no referral with this id delivered to \(agency).")
        }
        return try JSONResponse.make(view, status: .ok)
    }

    /// `POST /v1/referrals/{id}/status` with `{"status": "accepted" | "declined" | "completed", "reason": code, "text": "…"}`
    /// (and for a duplicate, `"reference"`: the agency's own reference for the case it already has).
    func answer(_ request: Request, context: GatewayContext) async throws -> Response {
        var (principal, id, object, issues) = try await Self.jsonCommand(
            request, context, what: "the status", members: ["status", "reason", "text", "reference"],
            missing: "There is no referral with this id.")
        var answer: ReferralLoop.Answer?
        switch object["status"] {
        case .string(let text)?:
            answer = ReferralLoop.Answer(rawValue: text)
            if answer == nil { issues.append(FieldIssue(pointer: "/status", detail: "must be accepted, declined or completed.")) }
        default: issues.append(FieldIssue(pointer: "/status", detail: "is required: accepted, declined or completed."))
        }
        var reason: DeclineReason?
        switch object["reason"] {
        case nil: break
        case .string(let text)?:
            reason = DeclineReason(rawValue: text)
            if reason == nil {
                issues.append(
                    FieldIssue(pointer: "/reason", detail: "must be one of \(DeclineReason.allCases.map(\.rawValue).joined(separator: ", "))."))
            }
        case let other?: issues.append(FieldIssue(pointer: "/reason", detail: "must be a reason code, not \(other.kindName)."))
        }
        if answer == .declined, object["reason"] == nil {
            issues.append(
                FieldIssue(
                    pointer: "/reason", detail: "is required to decline: one of \(DeclineReason.allCases.map(\.rawValue).joined(separator: ", "))."))
        }
        if answer != nil, answer != .declined, object["reason"] != nil {
            issues.append(FieldIssue(pointer: "/reason", detail: "is given only with declined."))
        }
        var text: String?
        switch object["text"] {
        case nil: break
        case .string(let value)? where (1...2_000).contains(value.count): text = value
        case let other?: issues.append(FieldIssue(pointer: "/text", detail: "must be text of 1 to 2000 characters, not \(other.kindName)."))
        }
        var reference: String?
        switch object["reference"] {
        case nil: break
        case .string(let value)? where reason == .duplicate:
            if (1...ReferralLimits.externalReferenceLength).contains(value.count), TextCharacters.firstRefused(in: value, freeText: false) == nil {
                reference = value
            } else {
                issues.append(
                    FieldIssue(
                        pointer: "/reference",
                        detail: "must be your reference on one line, 1 to \(ReferralLimits.externalReferenceLength) characters."))
            }
        default:
            issues.append(
                FieldIssue(pointer: "/reference", detail: "is your own reference for a duplicate: given only with declined, reason duplicate."))
        }
        guard issues.isEmpty, let answer else { throw Self.invalid(issues) }
        do {
            let answered = try await loop.answer(
                referralId: ReferralID(id), agency: principal.agency, actor: principal.actor, answer: answer, reason: reason, text: text,
                reference: reference)
            return try JSONResponse.make(answered, status: .ok)
        } catch let refusal as ReferralLoop.Refusal {
            throw ProblemResponse(refusal)
        }
    }

    /// `POST /v1/referrals/{id}/amendments`: the referrer's JSON Merge Patch of the fields it may
    /// change, validated as at intake; every agency that has the referral is sent the update.
    func amend(_ request: Request, context: GatewayContext) async throws -> Response {
        guard let principal = context.principal else { throw ProblemResponse(.unauthorised, detail: "An API key is required.") }
        let id = context.parameters.get("id") ?? ""
        guard Identifier.isWellFormed(id) else { throw ProblemResponse(.notFound, detail: "There is no referral with this id.") }
        try JSONResponse.requireJSON(
            request, what: "the amendment, a JSON Merge Patch,", types: ["application/merge-patch+json", "application/json"])
        let body = try await request.body.collect(upTo: BodyLimitMiddleware.limit)
        do {
            let amended = try await loop.amend(
                referralId: ReferralID(id), patch: body.readableBytesView, actor: principal.actor, keyId: principal.keyId,
                organisations: principal.organisations)
            return try JSONResponse.make(amended, status: .ok)
        } catch let refusal as ReferralIntake.Refusal {
            throw ReferralRoutes.problem(refusal)
        } catch ReferralLoop.Refusal.notAlong {
            throw ProblemResponse(
                .lifecycleConflict, detail: "This referral is completed or closed: nobody is acting on it, so there is nothing to amend.")
        } catch let refusal as ReferralLoop.Refusal {
            throw ProblemResponse(refusal)
        }
    }

    /// `POST /v1/referrals/{id}/cancel` with `{"reason": "…"}`, by its referrer.
    func cancel(_ request: Request, context: GatewayContext) async throws -> Response {
        var (principal, id, object, issues) = try await Self.jsonCommand(
            request, context, what: "the cancellation", members: ["reason"], missing: "There is no referral with this id.")
        var reason: String?
        switch object["reason"] {
        case .string(let text)? where (1...2_000).contains(text.count): reason = text
        default: issues.append(FieldIssue(pointer: "/reason", detail: "is required: why, in 1 to 2000 characters, for the agencies and the record."))
        }
        guard issues.isEmpty else { throw Self.invalid(issues) }
        do {
            let cancelled = try await loop.cancel(
                referralId: ReferralID(id), actor: principal.actor, keyId: principal.keyId, organisations: principal.organisations, reason: reason)
            return try JSONResponse.make(cancelled, status: .ok)
        } catch ReferralLoop.Refusal.notAlong(let current) {
            throw ProblemResponse(
                .lifecycleConflict,
                detail: current == .completed
                    ? "An agency has completed this referral: it can no longer be cancelled."
                    : "This referral is already closed: nobody is acting on it.")
        } catch let refusal as ReferralLoop.Refusal {
            throw ProblemResponse(refusal)
        }
    }

    /// `GET /v1/attention`: what needs a person: emergencies first, then urgent, then routine; the soonest due first.
    func attention(_ request: Request, context: GatewayContext) async throws -> Response {
        try JSONResponse.make(AttentionList(items: try await loop.attention()), status: .ok)
    }

    /// `POST /v1/attention/{id}/resolve` with `{"action": "reroute", "agency": A}` or `{"action": "close", "reason": "…"}`.
    func resolve(_ request: Request, context: GatewayContext) async throws -> Response {
        var (principal, id, object, issues) = try await Self.jsonCommand(
            request, context, what: "the resolution", members: ["action", "agency", "reason"],
            missing: "There is no open attention item with this id.")
        var resolution: ReferralLoop.Resolution?
        switch (object["action"], object["agency"], object["reason"]) {
        case (.string("reroute")?, .string(let agency)?, nil) where QueueRoutes.isAgencyId(agency): resolution = .reroute(agency: AgencyID(agency))
        case (.string("close")?, nil, .string(let reason)?) where (1...2_000).contains(reason.count): resolution = .close(reason: reason)
        default:
            issues.append(
                FieldIssue(
                    pointer: "/action", detail: "must be reroute with an agency id, or close with a reason of 1 to 2000 characters."))
        }
        guard issues.isEmpty, let resolution else { throw Self.invalid(issues) }
        do {
            return try JSONResponse.make(try await loop.resolve(id, resolution, actor: principal.actor), status: .ok)
        } catch let refusal as ReferralLoop.Refusal {
            throw ProblemResponse(refusal)
        }
    }

    /// What every command on one item (`/{id}/…` with a JSON body) starts with: the caller, a
    /// well-formed id (404 otherwise), the body as a JSON object, and a problem for each member
    /// the command does not know.
    static func jsonCommand(
        _ request: Request, _ context: GatewayContext, what: String, members: [String], missing: String
    ) async throws -> (Principal, String, JSONObject, [FieldIssue]) {
        guard let principal = context.principal else { throw ProblemResponse(.unauthorised, detail: "An API key is required.") }
        let id = context.parameters.get("id") ?? ""
        guard Identifier.isWellFormed(id) else { throw ProblemResponse(.notFound, detail: missing) }
        try JSONResponse.requireJSON(request, what: what)
        let object = try await RulesRoutes.jsonObject(request)
        let names = members.count == 1 ? members[0] : members.dropLast().joined(separator: ", ") + " and " + (members.last ?? "")
        var issues = object.members.map(\.key).filter { !members.contains($0) }.map {
            FieldIssue(
                pointer: jsonPointer("", $0),
                detail: "is not a member this request knows; use \(names).")
        }
        for (key, value) in object.members where members.contains(key) {
            guard case .string(let text) = value, let refused = TextCharacters.firstRefused(in: text, freeText: true) else { continue }
            issues.append(FieldIssue(pointer: jsonPointer("", key), detail: TextCharacters.detail(refused, freeText: true)))
        }
        return (principal, id, object, issues)
    }

    static func invalid(_ issues: [FieldIssue]) -> ProblemResponse {
        ProblemResponse(.invalidRequest, detail: "The request has \(issues.count) problem\(issues.count == 1 ? "" : "s").", errors: issues)
    }

    static func agency(_ context: GatewayContext) throws -> AgencyID {
        guard let agency = context.principal?.agency else {
            throw ProblemResponse(.forbidden, detail: "This agency key answers for no agency: give it `agency: ID` in switchboard.yaml.")
        }
        return agency
    }

    static func printable(_ name: String) -> String {
        String(name.unicodeScalars.filter { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)) }.prefix(40).map(Character.init))
    }
}

/// `GET /v1/agency/referrals`: a page of an agency's worklist; `next` is the `before` of the next page.
struct Worklist: Codable, Sendable {
    var agency: AgencyID
    var referrals: [WorkItem]
    var next: DeliveryID?
}

/// `GET /v1/attention`.
public struct AttentionList: Codable, Sendable {
    public var items: [AttentionItem]
}

extension LoopRoutes {
    /// `/v1/agency/referrals`, an agency's worklist; `/v1/attention`, what needs an administrator.
    func collection(_ guards: APIGuard) -> RouteCollection<GatewayContext> {
        let routes = RouteCollection(context: GatewayContext.self)
        guards.group(routes, [.agency]).get("agency/referrals") { request, context in try await worklist(request, context: context) }
        let attention = guards.group(routes, [.admin])
        attention.get("attention") { request, context in try await self.attention(request, context: context) }
        attention.post("attention/{id}/resolve") { request, context in try await resolve(request, context: context) }
        return routes
    }
}
