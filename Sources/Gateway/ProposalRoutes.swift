import APIDocuments
import Foundation
import HTTPEdge
import HTTPTypes
import Hummingbird
import ReferralModel
import UseCases

/// Proposals: where a deployment requires approval, a change to the rules or agencies is proposed
/// by one administrator and approved (or rejected) by another.
extension RulesRoutes {
    /// `POST /v1/rules/proposals`: validates the YAML body, made against the live version
    /// `If-Match` names, and stores it as a pending proposal. 201 with the proposal and its diff.
    func propose(_ request: Request, context: GatewayContext) async throws -> Response {
        let (text, ifMatch, actor) = try await yamlChange(request, context: context)
        let proposed: RulesAdministrator.Proposed
        do {
            proposed = try await administrator.propose(text, to: document, ifMatch: ifMatch, actor: actor)
        } catch let refusal as RulesAdministrator.Refusal {
            throw problem(refusal)
        }
        return try created(proposed)
    }

    /// 201 with a new proposal and its diff; `Location` is the proposal.
    func created(_ proposed: RulesAdministrator.Proposed) throws -> Response {
        var response = try JSONResponse.make(ProposalDocument(proposal: proposed.proposal, diff: proposed.change.lineDiff), status: .created)
        response.headers[.location] = "/v1/\(noun)/proposals/\(proposed.proposal.id)"
        return response
    }

    /// `GET /v1/rules/proposals`: the proposals, newest first.
    func proposals(_ request: Request, context: GatewayContext) async throws -> Response {
        try JSONResponse.make(ProposalList(proposals: try await administrator.proposals(of: document, limit: 200)), status: .ok)
    }

    /// `GET /v1/rules/proposals/{id}`: one proposal with its text and its diff against what is live.
    func proposal(_ request: Request, context: GatewayContext) async throws -> Response {
        let proposal = try await stored(context)
        let diff = administrator.change(
            document, from: administrator.live.current.text(of: document), to: proposal.text ?? "", oldName: "live", newName: "proposal")
        return try JSONResponse.make(ProposalDocument(proposal: proposal, diff: diff.lineDiff), status: .ok)
    }

    /// `POST /v1/rules/proposals/{id}/approve`: a second administrator makes it live.
    func approve(_ request: Request, context: GatewayContext) async throws -> Response {
        guard let principal = context.principal else { throw ProblemResponse(.unauthorised, detail: "An API key is required.") }
        let id = try await stored(context).id
        return try await answer { try await administrator.approve(id, actor: principal.actor) }
    }

    /// `POST /v1/rules/proposals/{id}/reject` with `{"reason": "…"}` (optional): rejects it, or
    /// withdraws it when its proposer asks.
    func reject(_ request: Request, context: GatewayContext) async throws -> Response {
        guard let principal = context.principal else { throw ProblemResponse(.unauthorised, detail: "An API key is required.") }
        let id = try await stored(context).id
        try JSONResponse.requireJSON(request)
        let object = try await Self.jsonObject(request)
        var issues = object.members.map(\.key).filter { $0 != "reason" }.map {
            FieldIssue(pointer: jsonPointer("", $0), detail: "is not a member this request knows; use reason.")
        }
        var reason: String?
        switch object["reason"] {
        case nil: break
        case .string(let text)? where (1...1_000).contains(text.count): reason = text
        case let other?:
            issues.append(FieldIssue(pointer: "/reason", detail: "must be text of 1 to 1000 characters, not \(other.kindName)."))
        }
        guard issues.isEmpty else {
            throw ProblemResponse(.invalidRequest, detail: "The request has \(issues.count) problem\(issues.count == 1 ? "" : "s").", errors: issues)
        }
        do {
            let rejected = try await administrator.reject(id, actor: principal.actor, reason: reason)
            return try JSONResponse.make(ProposalDocument(proposal: rejected, diff: ""), status: .ok)
        } catch let refusal as RulesAdministrator.Refusal {
            throw problem(refusal)
        }
    }

    /// The proposal the path names, of this document; 404 otherwise.
    private func stored(_ context: GatewayContext) async throws -> ChangeProposal {
        let id = context.parameters.get("id") ?? ""
        guard Identifier.isWellFormed(id), let proposal = try await administrator.proposal(id), proposal.document == document else {
            throw ProblemResponse(.notFound, detail: "There is no such \(noun) proposal; `switchboard \(noun) proposals` lists them.")
        }
        return proposal
    }
}
