import Foundation
import Logging
import ReferralModel
import Routing
import ServiceLifecycle
import Storage

/// Runs `followStore` every `interval` seconds until shutdown.
public struct StoredVersionFollower: Service {
    let administrator: RulesAdministrator
    let interval: Duration

    public init(administrator: RulesAdministrator, interval: Duration = .seconds(1)) {
        self.administrator = administrator
        self.interval = interval
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            if Task.isShuttingDownGracefully { return }
            await administrator.followStore()
        }
    }
}
