import Audit
import Foundation
import Logging
import ReferralModel
import ServiceLifecycle
import Storage

/// Writes the audit chain's head to the checkpoint file every so many seconds while it grows, and
/// once more at shutdown, so deleting the newest events or rewriting the chain is seen by
/// `audit verify`. A checkpoint the file already has is not written again.
public struct AuditAnchor: Service {
    let store: any AuditLog
    let file: CheckpointFile
    /// When the log is a transparency log: each checkpoint integrates the new events into the
    /// Merkle tree first and carries the tree's signed note.
    let log: TransparencyLog?
    let interval: Double
    let clock: any WallClock
    let logger: Logger

    public init(
        store: any AuditLog, file: CheckpointFile, log: TransparencyLog? = nil, interval: Double, clock: any WallClock = SystemClock(),
        logger: Logger
    ) {
        self.store = store
        self.file = file
        self.log = log
        self.interval = interval
        self.clock = clock
        self.logger = logger
    }

    /// Writes a checkpoint when the head moved past the newest one in the file.
    /// - Returns: the sequence written, or nil when there was nothing new.
    @discardableResult
    public func checkpoint() async throws -> Int64? {
        if let log {
            let (size, head) = try await log.integrate()
            guard size > (file.newestSequence() ?? 0), let head else { return nil }
            try file.append(sequence: size, hash: head, at: clock.now(), note: try await log.checkpoint(size: size).note)
            return size
        }
        guard let head = try await store.auditHead(), head.sequence > (file.newestSequence() ?? 0) else { return nil }
        try file.append(sequence: head.sequence, hash: head.hash, at: clock.now())
        return head.sequence
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            await record()
            // Woken by a shutdown, so it never waits out a whole interval before the last checkpoint.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(Int(interval * 1000))) }
        }
        // The last events before a shutdown are anchored too.
        await record()
    }

    private func record() async {
        do {
            try await checkpoint()
        } catch {
            logger.error("Could not write the audit checkpoint", metadata: ["error.type": "\(type(of: error))"])
        }
    }
}
