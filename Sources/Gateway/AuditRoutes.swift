import Audit
import Foundation
import HTTPEdge
import Hummingbird
import ReferralModel
import Settings
import UseCases

/// `/v1/audit`: the audit log as a transparency log. Any key may fetch the signed checkpoint and
/// consistency proofs (they name no referral); inclusion proofs for a referral's events go to
/// whoever may read that referral.
struct AuditRoutes: Sendable {
    /// Nil when the deployment sets no `audit.signing_key_file`.
    let log: TransparencyLog?

    private func requireLog() throws -> TransparencyLog {
        guard let log else {
            throw ProblemResponse(
                .notFound,
                detail:
                    "This gateway keeps no transparency log: its administrators have not set audit.signing_key_file, so there are no signed checkpoints or proofs."
            )
        }
        return log
    }

    /// `GET /v1/audit/checkpoint`: the signed note (C2SP tlog-checkpoint) of the integrated tree.
    func checkpoint(_ request: Request, context: GatewayContext) async throws -> Response {
        let log = try requireLog()
        try Self.refuseUnknown(request, known: [])
        let note = try await log.checkpoint().note
        return Response(
            status: .ok, headers: [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: note)))
    }

    /// `GET /v1/audit/proof?referral=ID[&size=N]` (inclusion) or `?old_size=M[&size=N]` (consistency).
    func proof(_ request: Request, context: GatewayContext) async throws -> Response {
        guard let principal = context.principal else { throw ProblemResponse(.unauthorised, detail: "An API key is required.") }
        let log = try requireLog()
        let parameters = request.uri.queryParameters
        try Self.refuseUnknown(request, known: ["referral", "size", "old_size"])
        var issues: [FieldIssue] = []
        func size(_ name: String) -> Int64? {
            guard let text = parameters.get(name) else { return nil }
            guard let value = Int64(text), value >= 0 else {
                issues.append(FieldIssue(pointer: "/\(name)", detail: "must be a whole number of events, 0 or more."))
                return nil
            }
            return value
        }
        let treeSize = size("size")
        let oldSize = size("old_size")
        let referral = parameters.get("referral")
        if let referral, !Identifier.isWellFormed(referral) {
            issues.append(FieldIssue(pointer: "/referral", detail: "is not a referral id."))
        }
        if referral == nil, oldSize == nil, issues.isEmpty {
            issues.append(FieldIssue(pointer: "/referral", detail: "give referral (an inclusion proof) or old_size (a consistency proof)."))
        }
        if referral != nil, oldSize != nil {
            issues.append(FieldIssue(pointer: "/old_size", detail: "asks for a consistency proof; ask for it apart from a referral's proofs."))
        }
        guard issues.isEmpty else { throw ProblemResponse(.invalidRequest, detail: "The proof request is not valid.", errors: issues) }
        do {
            if let referral {
                let reader = TransparencyLog.Reader(
                    keyId: principal.keyId, role: principal.role, agency: principal.agency, organisations: principal.organisations)
                return try JSONResponse.make(try await log.prove(referral: ReferralID(referral), size: treeSize, reader: reader), status: .ok)
            }
            return try JSONResponse.make(try await log.consistency(old: oldSize ?? 0, new: treeSize), status: .ok)
        } catch let refusal as TransparencyLog.Refusal {
            switch refusal {
            case .noSuchReferral: throw ProblemResponse(.notFound, detail: "There is no referral with this id that this key may read.")
            case .beyondLog(let asked, let have):
                throw ProblemResponse(
                    .invalidRequest, detail: "The log has \(have) events in its newest checkpoint; a tree of \(asked) cannot be proven yet.",
                    errors: [FieldIssue(pointer: oldSize.map { $0 == asked } == true ? "/old_size" : "/size", detail: "is beyond the log (\(have)).")]
                )
            case .backwards(let old, let new):
                throw ProblemResponse(
                    .invalidRequest, detail: "The older tree (\(old)) is larger than the newer (\(new)).",
                    errors: [FieldIssue(pointer: "/old_size", detail: "is larger than size.")])
            }
        }
    }

    static func refuseUnknown(_ request: Request, known: [String]) throws {
        let unknown = request.uri.queryParameters.map { String($0.key) }.filter { !known.contains($0) }
        guard !unknown.isEmpty else { return }
        throw ProblemResponse(
            .invalidRequest, detail: "The request has parameters this endpoint does not know.",
            errors: unknown.map {
                FieldIssue(
                    pointer: "/\(QueueRoutes.printable($0))",
                    detail: known.isEmpty
                        ? "is not a parameter; this request takes none." : "is not a parameter; use \(known.joined(separator: ", ")).")
            })
    }

    func collection(_ guards: APIGuard) -> RouteCollection<GatewayContext> {
        let routes = RouteCollection(context: GatewayContext.self)
        let anyone = guards.group(routes, Set(Role.allCases))
        anyone.get("checkpoint") { request, context in try await checkpoint(request, context: context) }
        anyone.get("proof") { request, context in try await proof(request, context: context) }
        return routes
    }
}
