import Storage
import Synchronization
import Testing

/// The group-commit engine both stores write through: writes that arrive while a transaction runs
/// share the next one, and no more transactions run at once than the store allows.
@Suite struct GroupCommitTests {
    /// Counts the transactions under way, and the most ever under way together.
    final class Transactions: Sendable {
        private let state = Mutex<(running: Int, most: Int, batches: [Int])>((0, 0, []))
        func begin(_ size: Int) {
            state.withLock {
                $0.running += 1
                $0.most = max($0.most, $0.running)
                $0.batches.append(size)
            }
        }
        func end() { state.withLock { $0.running -= 1 } }
        var most: Int { state.withLock { $0.most } }
        var batches: [Int] { state.withLock { $0.batches } }
    }

    /// A write: what to tell its caller once its transaction has committed.
    struct Write: Sendable { let answer: GroupCommitAnswer }

    func engine(concurrency: Int, transactions: Transactions) -> GroupCommit<Write> {
        GroupCommit(maximumBatch: 10, concurrency: concurrency) { batch in
            transactions.begin(batch.count)
            try await Task.sleep(for: .milliseconds(20))
            transactions.end()
            return batch.map(\.answer)
        }
    }

    func submitAll(_ count: Int, to engine: GroupCommit<Write>) async throws -> [Int] {
        try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<count {
                group.addTask {
                    try await engine.submit { (continuation: CheckedContinuation<Int, any Error>) in
                        Write(answer: { continuation.resume(returning: index) })
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
    }

    @Test func oneTransactionAtATimeWhenTheStoreAllowsOne() async throws {
        let transactions = Transactions()
        let answered = try await submitAll(60, to: engine(concurrency: 1, transactions: transactions))
        #expect(answered.sorted() == Array(0..<60), "every write answered once")
        #expect(transactions.most == 1)
        #expect(transactions.batches.count < 60, "writes arriving during a transaction share the next")
        #expect(transactions.batches.allSatisfy { $0 <= 10 })
    }

    @Test func twoTransactionsUnderWayWhenTheStoreAllowsTwo() async throws {
        let transactions = Transactions()
        let answered = try await submitAll(60, to: engine(concurrency: 2, transactions: transactions))
        #expect(answered.sorted() == Array(0..<60))
        #expect(transactions.most == 2)
        #expect(transactions.batches.reduce(0, +) == 60)
    }
}
