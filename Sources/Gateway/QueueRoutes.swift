import Foundation
import HTTPEdge
import HTTPTypes
import Hummingbird
import NIOCore
import ReferralModel
import Settings
import UseCases

/// The operators' queue API: each agency's queue, dead letters and replaying them, pausing and
/// resuming an agency. Admin keys only; every change is audited with the key that made it.
struct QueueRoutes: Sendable {
    let operations: QueueOperations

    /// `GET /v1/queue`
    func overview(_ request: Request, context: GatewayContext) async throws -> Response {
        try JSONResponse.make(try await operations.overview(), status: .ok)
    }

    /// `GET /v1/queue/dead?agency=A&limit=N`
    func dead(_ request: Request, context: GatewayContext) async throws -> Response {
        var issues: [FieldIssue] = []
        let parameters = request.uri.queryParameters
        for (name, _) in parameters where !["agency", "limit"].contains(String(name)) {
            issues.append(
                FieldIssue(pointer: "/\(Self.printable(String(name)))", detail: "is not a parameter this request knows; use agency and limit."))
        }
        let agency = parameters.get("agency")
        if let agency, !Self.isAgencyId(agency) {
            issues.append(FieldIssue(pointer: "/agency", detail: "must be an agency id: letters, digits and hyphens."))
        }
        var limit = 100
        if let text = parameters.get("limit") {
            if let value = Int(text), (1...1000).contains(value) {
                limit = value
            } else {
                issues.append(FieldIssue(pointer: "/limit", detail: "must be a whole number from 1 to 1000."))
            }
        }
        guard issues.isEmpty else { throw ProblemResponse(.invalidRequest, detail: "The query is not valid.", errors: issues) }
        let actor = context.principal?.actor ?? "administrator"
        // Agencies' replies may quote the referral: administrators read them (audited), operations staff do not.
        let content = context.principal?.role == .admin
        return try JSONResponse.make(
            try await operations.deadLetters(agency: agency.map(AgencyID.init), limit: limit, by: actor, withReplies: content), status: .ok)
    }

    /// `POST /v1/queue/retry` with `{"deliveries": [ids]}` or `{"agency": A, "since": time}`.
    func retry(_ request: Request, context: GatewayContext) async throws -> Response {
        guard let principal = context.principal else { throw ProblemResponse(.unauthorised, detail: "An API key is required.") }
        try JSONResponse.requireJSON(request, what: "the selection")
        let object = try await RulesRoutes.jsonObject(request)
        var issues = object.members.map(\.key).filter { !["deliveries", "agency", "since"].contains($0) }.map {
            FieldIssue(pointer: jsonPointer("", $0), detail: "is not a member this request knows; use deliveries, or agency and since.")
        }
        var selection: DeadLetterSelection?
        switch (object["deliveries"], object["agency"]) {
        case (.array(let items)?, nil):
            var ids: [DeliveryID] = []
            for (index, item) in items.enumerated() {
                if case .string(let id) = item, Self.isDeliveryId(id) {
                    ids.append(DeliveryID(id))
                } else {
                    issues.append(
                        FieldIssue(pointer: "/deliveries/\(index)", detail: "must be a delivery id, as `switchboard queue dead` lists them."))
                }
            }
            if items.isEmpty || items.count > 1000 {
                issues.append(FieldIssue(pointer: "/deliveries", detail: "must list from 1 to 1000 delivery ids."))
            }
            if object["since"] != nil {
                issues.append(FieldIssue(pointer: "/since", detail: "goes with agency, not with deliveries."))
            }
            selection = .deliveries(ids)
        case (nil, .string(let agency)?):
            if !Self.isAgencyId(agency) { issues.append(FieldIssue(pointer: "/agency", detail: "must be an agency id.")) }
            var since: Date?
            switch object["since"] {
            case nil: break
            case .string(let text)?:
                since = Self.date(text)
                if since == nil { issues.append(FieldIssue(pointer: "/since", detail: "must be an RFC 3339 time, such as 2026-11-25T09:00:00Z.")) }
            default:
                issues.append(FieldIssue(pointer: "/since", detail: "must be an RFC 3339 time, such as 2026-11-25T09:00:00Z."))
            }
            selection = .agency(AgencyID(agency), since: since)
        case (nil, nil):
            issues.append(FieldIssue(pointer: "", detail: "must name deliveries, or an agency."))
        case (.some, .some):
            issues.append(FieldIssue(pointer: "/agency", detail: "name deliveries or an agency, not both."))
        case (.some, nil):
            issues.append(FieldIssue(pointer: "/deliveries", detail: "must be an array of delivery ids."))
        case (nil, .some):
            issues.append(FieldIssue(pointer: "/agency", detail: "must be an agency id."))
        }
        guard issues.isEmpty, let selection else {
            throw ProblemResponse(.invalidRequest, detail: "The selection is not valid.", errors: issues)
        }
        return try JSONResponse.make(try await operations.retry(selection, by: principal.actor), status: .ok)
    }

    /// `POST /v1/agencies/{agency}/pause` with an optional `{"reason": text}`.
    func pause(_ request: Request, context: GatewayContext) async throws -> Response {
        guard let principal = context.principal else { throw ProblemResponse(.unauthorised, detail: "An API key is required.") }
        let agency = try Self.agency(context)
        var reason: String?
        if request.headers[.contentLength] != "0", request.headers[.contentType] != nil || request.headers[.transferEncoding] != nil {
            try JSONResponse.requireJSON(request, what: "the reason")
            let object = try await RulesRoutes.jsonObject(request)
            var issues = object.members.map(\.key).filter { $0 != "reason" }.map {
                FieldIssue(pointer: jsonPointer("", $0), detail: "is not a member this request knows; use reason.")
            }
            switch object["reason"] {
            case nil: break
            case .string(let text)?
            where (1...200).contains(text.unicodeScalars.count) && !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }):
                reason = text
            default:
                issues.append(
                    FieldIssue(
                        pointer: "/reason", detail: "must be 1 to 200 characters on one line, saying why (a planned outage); never personal data."))
            }
            guard issues.isEmpty else { throw ProblemResponse(.invalidRequest, detail: "The pause request is not valid.", errors: issues) }
        }
        guard let queue = try await operations.pause(agency: agency, reason: reason, by: principal.actor) else { throw Self.unknownAgency }
        return try JSONResponse.make(queue, status: .ok)
    }

    /// `POST /v1/agencies/{agency}/resume`
    func resume(_ request: Request, context: GatewayContext) async throws -> Response {
        guard let principal = context.principal else { throw ProblemResponse(.unauthorised, detail: "An API key is required.") }
        let agency = try Self.agency(context)
        guard let queue = try await operations.resume(agency: agency, by: principal.actor) else { throw Self.unknownAgency }
        return try JSONResponse.make(queue, status: .ok)
    }

    /// `POST /v1/agencies/{agency}/ping`
    func ping(_ request: Request, context: GatewayContext) async throws -> Response {
        guard let principal = context.principal else { throw ProblemResponse(.unauthorised, detail: "An API key is required.") }
        let agency = try Self.agency(context)
        guard let result = try await operations.ping(agency: agency, by: principal.actor) else { throw Self.unknownAgency }
        return try JSONResponse.make(result, status: .ok)
    }

    static let unknownAgency = ProblemResponse(
        .notFound, detail: "No agency with that id is configured; `switchboard queue` lists the agencies.")

    static func agency(_ context: GatewayContext) throws -> AgencyID {
        guard let agency = context.parameters.get("agency"), isAgencyId(agency) else { throw unknownAgency }
        return AgencyID(agency)
    }

    static func isAgencyId(_ text: String) -> Bool { isIdentifier(text) }

    static func isDeliveryId(_ text: String) -> Bool { Identifier.isWellFormed(text) }

    /// A parameter name fit to quote back: plain characters only, at most 40.
    static func printable(_ name: String) -> String {
        String(name.unicodeScalars.filter { $0.isASCII && $0.properties.isAlphabetic || ("0"..."9").contains($0) }.prefix(40).map(Character.init))
    }

    static func date(_ text: String) -> Date? {
        Timestamp.parse(text)
    }
}

extension QueueRoutes {
    /// `/v1/queue`: the agencies' queues and dead letters, for administrators.
    func collection(_ guards: APIGuard) -> RouteCollection<GatewayContext> {
        let routes = RouteCollection(context: GatewayContext.self)
        let queue = guards.group(routes, [.admin, .operations])
        queue.get { request, context in try await overview(request, context: context) }
        queue.get("dead") { request, context in try await dead(request, context: context) }
        queue.post("retry") { request, context in try await retry(request, context: context) }
        return routes
    }
}
