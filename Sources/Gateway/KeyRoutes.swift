import Foundation
import HTTPEdge
import Hummingbird
import ReferralModel
import UseCases

/// `/v1/keys`: API keys with their owners, for administrators. A new or rotated key is in the
/// answer once and nowhere else.
struct KeyRoutes: Sendable {
    let administration: KeyAdministration

    struct KeyList: Codable, Sendable {
        var keys: [KeyListing]
    }

    func list(_ request: Request, context: GatewayContext) async throws -> Response {
        try JSONResponse.make(KeyList(keys: administration.list()), status: .ok)
    }

    /// `POST /v1/keys` with `{owner, role, id?, organisations?, agency?, expiresAt?}`.
    func create(_ request: Request, context: GatewayContext) async throws -> Response {
        guard let principal = context.principal else { throw ProblemResponse(.unauthorised, detail: "An API key is required.") }
        try JSONResponse.requireJSON(request, what: "the key's details")
        let object = try await RulesRoutes.jsonObject(request)
        let members = ["id", "owner", "role", "organisations", "agency", "expiresAt"]
        var issues = object.members.map(\.key).filter { !members.contains($0) }.map {
            FieldIssue(pointer: jsonPointer("", $0), detail: "is not a member this request knows; use \(members.joined(separator: ", ")).")
        }
        func text(_ name: String, required: Bool) -> String? {
            switch object[name] {
            case nil where required: issues.append(FieldIssue(pointer: "/" + name, detail: "is required."))
            case .string(let value)? where TextCharacters.firstRefused(in: value, freeText: false) == nil && value.count <= 200: return value
            case nil: break
            default: issues.append(FieldIssue(pointer: "/" + name, detail: "must be text on one line, at most 200 characters."))
            }
            return nil
        }
        let id = text("id", required: false)
        let owner = text("owner", required: true)
        let role = text("role", required: true)
        let agency = text("agency", required: false)
        var organisations: [String]?
        switch object["organisations"] {
        case nil: break
        case .array(let items)? where items.allSatisfy({ if case .string = $0 { true } else { false } }) && !items.isEmpty:
            organisations = items.compactMap { if case .string(let code) = $0 { code } else { nil } }
        default: issues.append(FieldIssue(pointer: "/organisations", detail: "must be a list of ODS codes, such as [\"K84001\"]."))
        }
        var expiresAt: Date?
        if let value = text("expiresAt", required: false) {
            expiresAt = Timestamp.parse(value)
            if expiresAt == nil { issues.append(FieldIssue(pointer: "/expiresAt", detail: "must be an RFC 3339 time such as 2027-03-31T23:59:59Z.")) }
        }
        guard issues.isEmpty, let owner, let role else { throw LoopRoutes.invalid(issues) }
        let wanted = KeyAdministration.Request(id: id, owner: owner, role: role, organisations: organisations, agency: agency, expiresAt: expiresAt)
        return try await answer(status: .created) { try await administration.create(wanted, by: principal.actor) }
    }

    /// `POST /v1/keys/{id}/revoke`
    func revoke(_ request: Request, context: GatewayContext) async throws -> Response {
        guard let principal = context.principal else { throw ProblemResponse(.unauthorised, detail: "An API key is required.") }
        let id = context.parameters.get("id") ?? ""
        return try await answer(status: .ok) { try await administration.revoke(id, by: principal.actor) }
    }

    /// `POST /v1/keys/{id}/rotate` with an optional `{"overlapSeconds": n}`.
    func rotate(_ request: Request, context: GatewayContext) async throws -> Response {
        guard let principal = context.principal else { throw ProblemResponse(.unauthorised, detail: "An API key is required.") }
        let id = context.parameters.get("id") ?? ""
        var overlap = 0.0
        if request.headers[.contentLength] != "0", request.headers[.contentType] != nil || request.headers[.transferEncoding] != nil {
            try JSONResponse.requireJSON(request, what: "the rotation")
            let object = try await RulesRoutes.jsonObject(request)
            var issues = object.members.map(\.key).filter { $0 != "overlapSeconds" }.map {
                FieldIssue(pointer: jsonPointer("", $0), detail: "is not a member this request knows; use overlapSeconds.")
            }
            switch object["overlapSeconds"] {
            case nil: break
            case .number(let value, _)?: overlap = value
            default: issues.append(FieldIssue(pointer: "/overlapSeconds", detail: "must be a number of seconds, 0 to 604800."))
            }
            guard issues.isEmpty else { throw LoopRoutes.invalid(issues) }
        }
        return try await answer(status: .ok) { try await administration.rotate(id, overlap: overlap, by: principal.actor) }
    }

    private func answer<Value: Encodable>(status: HTTPResponse.Status, _ work: () async throws -> Value) async throws -> Response {
        do {
            return try JSONResponse.make(try await work(), status: status)
        } catch let refusal as KeyAdministration.Refusal {
            switch refusal {
            case .invalid(let issues): throw LoopRoutes.invalid(issues)
            case .notFound: throw ProblemResponse(.notFound, detail: "There is no such managed key, or it is revoked or expired.")
            case .configured(let id):
                throw ProblemResponse(
                    .keyConflict,
                    detail: "Key '\(id)' is written in switchboard.yaml: change or remove it there and send the gateway SIGHUP.")
            case .taken(let id): throw ProblemResponse(.keyConflict, detail: "There is already a key '\(id)'; choose another id.")
            }
        }
    }
}

extension KeyRoutes {
    /// `/v1/keys`: administrators list, issue, revoke and rotate keys.
    func collection(_ guards: APIGuard) -> RouteCollection<GatewayContext> {
        let routes = RouteCollection(context: GatewayContext.self)
        let keys = guards.group(routes, [.admin])
        keys.get { request, context in try await list(request, context: context) }
        keys.post { request, context in try await create(request, context: context) }
        keys.post("{id}/revoke") { request, context in try await revoke(request, context: context) }
        keys.post("{id}/rotate") { request, context in try await rotate(request, context: context) }
        return routes
    }
}
