import Foundation
import Storage
import Synchronization

/// Whether this gateway should be sent work: the store takes a write within 800 ms and the
/// dispatcher is running. What `/readyz` answers; what `/metrics` adds about the shared audit chain.
public final class Readiness: Sendable {
    /// What a readiness check found.
    public struct Report: Codable, Sendable, Equatable {
        public var status: String
        public var store: String
        public var dispatcher: String
        public var rulesVersion: String
        /// `production` or `test` (switchboard.yaml's `environment`; `test` when not set).
        public var environment: String
        public var isReady: Bool { status == "ready" }
    }

    let store: any StoreHealth
    /// Whether the dispatcher's delivery loop is running.
    let dispatching: @Sendable () -> Bool
    let rules: LiveRules
    let environment: String
    /// A check writes; checks within a second of each other share one.
    private let recent = Mutex<(at: ContinuousClock.Instant, store: String?)?>(nil)
    /// The write checks are waiting on, while it runs.
    private let writing = Mutex<Task<String?, Never>?>(nil)
    /// How long a check waits for its write: `/readyz` answers within a second, whatever the store does.
    static let bound: Duration = .milliseconds(800)

    public init(store: any StoreHealth, rules: LiveRules, environment: String, dispatching: @escaping @Sendable () -> Bool) {
        self.store = store
        self.environment = environment
        self.dispatching = dispatching
        self.rules = rules
    }

    public func check() async -> Report {
        let problem = await storeProblem()
        let running = dispatching()
        return Report(
            status: problem == nil && running ? "ready" : "not-ready", store: problem ?? "writable",
            dispatcher: running ? "running" : "stopped", rulesVersion: rules.current.rules.version, environment: environment)
    }

    /// What chaining the audit events of a store several gateways share has cost this gateway so
    /// far; nil when the store is not shared.
    public var auditChainLock: (appends: Int, waitedSeconds: Double, heldSeconds: Double)? {
        guard let shared = store as? any SharedAuditChain else { return nil }
        let figures = shared.auditChainLock
        return (figures.appends, figures.waitedSeconds, figures.heldSeconds)
    }

    /// The audit events written but not yet chained, and the oldest's age; nil when the store
    /// chains each event as it is written.
    public func auditBacklog() async throws -> (events: Int, oldestSeconds: Double)? {
        guard let shared = store as? any SharedAuditChain else { return nil }
        let backlog = try await shared.auditBacklog()
        return (backlog.events, backlog.oldestSeconds)
    }

    /// Nil when a small write commits within `bound`; else what stopped it. A check answers within
    /// the bound however long the write takes (a database that went away may hold a connection
    /// attempt for its whole connect timeout): the write goes on without it, and checks that come
    /// while it does wait on the same write rather than each starting another.
    private func storeProblem() async -> String? {
        let now = ContinuousClock.now
        if let last = recent.withLock({ $0 }), last.at.duration(to: now) < .seconds(1) { return last.store }
        let store = self.store
        let write = writing.withLock { writing in
            if let writing { return writing }
            let write = Task<String?, Never> {
                do {
                    try await store.checkWritable()
                    return nil
                } catch {
                    return StoreFault.summary(error)
                }
            }
            writing = write
            return write
        }
        let problem = await Self.answer(of: write, within: Self.bound) {
            self.writing.withLock { if $0 == write { $0 = nil } }
        }
        recent.withLock { $0 = (now, problem) }
        return problem
    }

    /// The write's answer, or once `bound` has passed, that it did not finish in time.
    private static func answer(of write: Task<String?, Never>, within bound: Duration, finished: @escaping @Sendable () -> Void) async
        -> String?
    {
        let once = Once()
        return await withCheckedContinuation { (continuation: CheckedContinuation<String?, Never>) in
            let timer = Task {
                try? await Task.sleep(for: bound)
                if once.claim() { continuation.resume(returning: "a write did not finish within \(bound.milliseconds) ms") }
            }
            Task {
                let problem = await write.value
                finished()
                timer.cancel()
                if once.claim() { continuation.resume(returning: problem) }
            }
        }
    }
}

/// True for the first caller only.
private final class Once: Sendable {
    private let claimed = Atomic<Bool>(false)
    func claim() -> Bool { claimed.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged }
}

extension Duration {
    fileprivate var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}

/// Whether an error means the store cannot take writes for now (a full disk, an unreachable
/// database): answered 503 with `Retry-After`, never a false success. For the doors, which do not
/// know the stores.
public enum StoreAvailability {
    public static func isUnavailable(_ error: any Error) -> Bool { StoreFault.isUnavailable(error) }

    /// A sentence naming no data: what kind of failure it was.
    public static func summary(_ error: any Error) -> String { StoreFault.summary(error) }
}
