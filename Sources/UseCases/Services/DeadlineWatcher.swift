import Foundation
import Logging
import ServiceLifecycle

/// Escalates overdue and dead-lettered deliveries every `interval` seconds, as a service beside
/// the dispatcher. Deadlines are stored with each delivery, so a restart loses none: the first
/// sweep after it escalates whatever fell due while the gateway was down.
public struct DeadlineWatcher: Service {
    let loop: ReferralLoop
    let interval: Double
    let logger: Logger

    public init(loop: ReferralLoop, interval: Double = 5, logger: Logger) {
        self.loop = loop
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            do {
                let escalated = try await loop.escalateDue()
                if escalated > 0 { logger.notice("Deliveries escalated", metadata: ["count": "\(escalated)"]) }
            } catch {
                logger.error("Could not escalate overdue deliveries", metadata: ["error.type": "\(type(of: error))"])
            }
            try? await Task.sleep(for: .milliseconds(Int(interval * 1000)))
        }
    }
}
