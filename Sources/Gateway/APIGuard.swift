import HTTPEdge
import Hummingbird
import ReferralModel
import Settings

/// How the API's routes are guarded, in order: the key (401, counted at the front door), its role
/// (403), its request rate (429) and the body limit (413), each a middleware of its own. A request
/// refused early never has its body read.
struct APIGuard: Sendable {
    let authentication: AuthenticationMiddleware
    let rate: RateLimitMiddleware

    /// A group of `routes` open to keys with one of `roles`.
    func group(_ routes: RouteCollection<GatewayContext>, _ roles: Set<Role>) -> RouterGroup<GatewayContext> {
        routes.group().add(middleware: authentication).add(middleware: RoleMiddleware(roles)).add(middleware: rate)
            .add(middleware: BodyLimitMiddleware())
    }
}
