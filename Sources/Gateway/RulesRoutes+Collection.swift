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

extension RulesRoutes {
    /// `/v1/rules` or `/v1/agencies`, for administrators: the live document, changes, proposals,
    /// history and rollback; for agencies, pausing, resuming and testing one (`queue`).
    func collection(_ guards: APIGuard, queue: QueueRoutes? = nil) -> RouteCollection<GatewayContext> {
        let routes = RouteCollection(context: GatewayContext.self)
        let admin = guards.group(routes, [.admin])
        if document == .rules {
            admin.get { request, context in try await show(request, context: context) }
            admin.post("test") { request, context in try await test(request, context: context) }
        } else {
            admin.get { request, context in try await showAgencies(request, context: context) }
            admin.post("test") { request, context in try await testProposed(request, context: context) }
        }
        admin.post("impact") { request, context in try await impact(request, context: context) }
        admin.put { request, context in try await replace(request, context: context) }
        admin.post("rollback") { request, context in try await rollback(request, context: context) }
        admin.get("versions") { request, context in try await history(request, context: context) }
        admin.get("versions/{number}") { request, context in try await version(request, context: context) }
        admin.post("proposals") { request, context in try await propose(request, context: context) }
        admin.get("proposals") { request, context in try await proposals(request, context: context) }
        admin.get("proposals/{id}") { request, context in try await proposal(request, context: context) }
        admin.post("proposals/{id}/approve") { request, context in try await approve(request, context: context) }
        admin.post("proposals/{id}/reject") { request, context in try await reject(request, context: context) }
        if let queue {
            // Operations staff keep deliveries moving too.
            let admin = guards.group(routes, [.admin, .operations])
            admin.post("{agency}/pause") { request, context in try await queue.pause(request, context: context) }
            admin.post("{agency}/resume") { request, context in try await queue.resume(request, context: context) }
            admin.post("{agency}/ping") { request, context in try await queue.ping(request, context: context) }
        }
        return routes
    }
}
