import Foundation
import Synchronization

/// A method and path the router serves, in OpenAPI's template form (`/v1/referrals/{id}`).
public struct DocumentedRoute: Sendable, Hashable, CustomStringConvertible {
    public var method: String
    public var path: String

    public init(method: String, path: String) {
        self.method = method
        self.path = path
    }

    public var description: String { "\(method) \(path)" }

    /// Whether a request path fits this template.
    public func matches(path requestPath: String) -> Bool {
        let template = path.split(separator: "/")
        let actual = requestPath.split(separator: "/")
        guard template.count == actual.count else { return false }
        return zip(template, actual).allSatisfy { $0.hasPrefix("{") || $0 == $1 }
    }
}

/// The routes the built router serves, filled in once the router is complete so the 405 logic and
/// the contract test read the router itself rather than a list kept by hand.
public final class RouteIndex: Sendable {
    private let routes = Mutex<[DocumentedRoute]>([])
    public init() {}
    public var all: [DocumentedRoute] { routes.withLock { $0 } }
    public func set(_ list: [DocumentedRoute]) { routes.withLock { $0 = list } }
}
