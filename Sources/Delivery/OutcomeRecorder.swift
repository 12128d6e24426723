import Foundation
import Storage
import Synchronization

/// Records attempts' results in batches: while one batch is being written, finished attempts
/// queue, and the next write takes all of them, so one transaction serves many deliveries.
final class OutcomeRecorder: Sendable {
    private typealias Waiting = (completion: DeliveryCompletion, continuation: CheckedContinuation<Bool, any Error>)

    private struct State {
        var waiting: [Waiting] = []
        var writing = false
    }

    private let queue: any DeliveryQueue
    private let state = Mutex(State())
    /// Bounds one transaction, so a burst cannot hold the write lock for long.
    private let maximumBatch = 512

    init(queue: any DeliveryQueue) {
        self.queue = queue
    }

    /// Records one attempt's result and returns once it is committed.
    /// - Returns: false when the lease was lost, in which case nothing was written for it.
    func record(_ completion: DeliveryCompletion) async throws -> Bool {
        try await withCheckedThrowingContinuation { continuation in
            let startWriting = state.withLock { state -> Bool in
                state.waiting.append((completion, continuation))
                guard !state.writing else { return false }
                state.writing = true
                return true
            }
            if startWriting {
                Task { await self.write() }
            }
        }
    }

    private func write() async {
        while true {
            let batch = state.withLock { state -> [Waiting] in
                let batch = Array(state.waiting.prefix(maximumBatch))
                state.waiting.removeFirst(batch.count)
                if batch.isEmpty { state.writing = false }
                return batch
            }
            guard !batch.isEmpty else { return }
            do {
                let held = try await queue.finish(batch.map(\.completion))
                for (index, waiting) in batch.enumerated() {
                    waiting.continuation.resume(returning: index < held.count ? held[index] : false)
                }
            } catch {
                for waiting in batch { waiting.continuation.resume(throwing: error) }
            }
        }
    }
}
