import Foundation
import Logging
import ServiceLifecycle

/// Runs the retention policy each day at its time, as a service beside the dispatcher. A run that
/// fails (the database went away) is tried again ten minutes later.
public struct RetentionScheduler: Service {
    let retention: Retention
    let logger: Logger

    public init(retention: Retention, logger: Logger) {
        self.retention = retention
        self.logger = logger
    }

    public func run() async throws {
        guard retention.schedule != nil else { return }
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            var next: Date?
            do {
                if let run = try await retention.runIfDue() {
                    logger.notice(
                        "Retention ran", metadata: ["day": "\(run.day)", "pruned": "\(run.pruned ?? 0)"])
                }
                next = retention.nextRun(after: retention.clock.now())
            } catch {
                logger.error("The retention run failed; trying again in ten minutes", metadata: ["error.type": "\(type(of: error))"])
                next = retention.clock.now().addingTimeInterval(600)
            }
            guard let next else { return }
            try? await cancelWhenGracefulShutdown { try await retention.clock.sleep(until: next) }
        }
    }
}
