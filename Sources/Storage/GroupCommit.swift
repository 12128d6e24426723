/// What to tell a write's caller once its transaction has committed.
public typealias GroupCommitAnswer = @Sendable () -> Void

/// The group-commit engine both stores' writers run on. Writes queue while one transaction
/// commits; the next transaction takes all of them (up to `maximumBatch`, so a burst cannot hold
/// the database's write lock for long), and one commit, one fsync, serves them all. An idle store
/// commits a single write at once. Each store says how a batch is written (`commit`): it answers
/// each write after the commit, or throws, and then every write in the batch is told the error.
public actor GroupCommit<Job: Sendable> {
    public typealias Answer = GroupCommitAnswer

    private struct Entry: Sendable {
        var job: Job
        /// Tells the caller the transaction did not commit.
        var fail: @Sendable (any Error) -> Void
    }

    private let maximumBatch: Int
    private let concurrency: Int
    private let commit: @Sendable ([Job]) async throws -> [Answer]
    private var pending: [Entry] = []
    /// Transactions under way.
    private var flushing = 0

    /// - Parameter concurrency: how many transactions may be under way at once: 1 for SQLite, whose
    ///   writes take turns anyway; more for a server, which works on one batch while the network
    ///   carries another.
    /// - Parameter commit: writes a batch in one transaction and commits it; returns the answers
    ///   to give, or throws when the transaction did not commit.
    public init(maximumBatch: Int, concurrency: Int = 1, commit: @escaping @Sendable ([Job]) async throws -> [Answer]) {
        self.maximumBatch = maximumBatch
        self.concurrency = max(1, concurrency)
        self.commit = commit
    }

    /// Queues the write `make` makes for the next transaction, and returns what it answered once
    /// that transaction has committed; throws when it did not.
    public func submit<Value: Sendable>(_ make: @Sendable (CheckedContinuation<Value, any Error>) -> Job) async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            enqueue(make(continuation)) { continuation.resume(throwing: $0) }
        }
    }

    /// Queues `job` for the next transaction; `fail` is called if that transaction does not commit.
    public func enqueue(_ job: Job, fail: @escaping @Sendable (any Error) -> Void) {
        pending.append(Entry(job: job, fail: fail))
        if flushing < concurrency {
            flushing += 1
            Task { await self.flush() }
        }
    }

    private func flush() async {
        while !pending.isEmpty {
            let batch = Array(pending.prefix(maximumBatch))
            pending.removeFirst(batch.count)
            do {
                for answer in try await commit(batch.map(\.job)) { answer() }
            } catch {
                for entry in batch { entry.fail(error) }
            }
        }
        flushing -= 1
    }
}
