import Audit
import Foundation
import Logging
import PostgresNIO
import Storage
import Synchronization

/// One connection inside one transaction, as a store operation sees it: statements to run, and in
/// a write, the audit events and the wake-up to add when the batch commits.
///
/// Unchecked: a session belongs to the one transaction that made it, which runs its statements one
/// after another; it is never shared between tasks.
final class PostgresSession: @unchecked Sendable {
    let connection: PostgresConnection
    let logger: Logger
    /// Audit events the current write asked for, appended under the chain's lock at the batch's end.
    private(set) var audit: [AuditEntry] = []
    /// Whether the batch added work that may be due, so other gateways should look.
    var addsDueWork = false

    init(connection: PostgresConnection, logger: Logger) {
        self.connection = connection
        self.logger = logger
    }

    /// Records audit events to commit with this write.
    func append(_ entries: [AuditEntry]) { audit.append(contentsOf: entries) }

    /// Forgets what a write asked for (it failed and its savepoint was rolled back).
    func rollBack(auditTo count: Int) { audit.removeLast(audit.count - count) }

    func execute(_ query: PostgresQuery) async throws {
        _ = try await connection.query(query, logger: logger).get()
    }

    func rows(_ query: PostgresQuery) async throws -> [PGRow] {
        try await connection.query(query, logger: logger).get().rows.map(PGRow.init)
    }

    func one(_ query: PostgresQuery) async throws -> PGRow? { try await rows(query).first }

    /// Rolls back after `error`, where the connection is still there to hear it. After a
    /// connection-level failure nothing more is sent: the server rolls back a transaction whose
    /// connection is gone, and a statement sent on a dead connection was seen never to answer.
    func rollBack(after error: any Error) async {
        guard !connectionLost(error) else { return }
        try? await execute("ROLLBACK")
    }

    /// Whether `error` means the connection is gone (closed, cut, or the server shutting down),
    /// rather than one statement failing on a connection that is still there.
    func connectionLost(_ error: any Error) -> Bool { Self.connectionLost(error, on: connection) }

    static func connectionLost(_ error: any Error, on connection: PostgresConnection) -> Bool {
        if connection.isClosed { return true }
        guard let error = error as? PSQLError else { return false }
        guard error.code == .server else { return true }
        let state = error.serverInfo?[.sqlState] ?? ""
        return state.hasPrefix("08") || state.hasPrefix("57P")
    }

    /// Runs an UPDATE or DELETE and says how many rows it changed.
    func changes(_ query: PostgresQuery) async throws -> Int {
        let result = try await connection.query(query, logger: logger).get()
        return result.metadata.rows ?? 0
    }
}

/// A row read by column name.
struct PGRow {
    let cells: PostgresRandomAccessRow

    init(_ row: PostgresRow) { cells = row.makeRandomAccess() }

    func callAsFunction<T: PostgresDecodable>(_ column: String, as: T.Type = T.self) throws -> T {
        try cells[column].decode(T.self)
    }

    func date(_ column: String) throws -> Date? { try (self(column) as Double?).map(Date.init(timeIntervalSince1970:)) }
}

extension PostgresQuery {
    /// A statement whose text is built from fixed parts (table names, lists of fixed words) with
    /// values bound in order: never values spliced into the text.
    static func bound(_ sql: String, _ values: [(any PostgresThrowingDynamicTypeEncodable)?]) throws -> PostgresQuery {
        var bindings = PostgresBindings(capacity: values.count)
        for value in values {
            if let value { try bindings.append(value) } else { bindings.appendNull() }
        }
        return PostgresQuery(unsafeSQL: sql, binds: bindings)
    }
}

/// Whether the database was last found unreachable. While it is, an operation waits only a
/// moment for a connection instead of the whole connect timeout, so a request during an outage is
/// refused within a second rather than after the timeout; the first operation that gets a
/// connection again clears it.
final class Reachability: Sendable {
    private let down = Atomic<Bool>(false)
    /// How long an operation waits for a connection while the database is known to be unreachable.
    static let shortWait: Duration = .milliseconds(250)

    /// How long to wait for a connection now, given the configured connect timeout.
    func wait(_ configured: Duration) -> Duration { down.load(ordering: .relaxed) ? min(configured, Self.shortWait) : configured }

    var isDown: Bool { down.load(ordering: .relaxed) }

    func connected() { down.store(false, ordering: .relaxed) }

    func unreachable() { down.store(true, ordering: .relaxed) }
}

extension PostgresClient {
    /// Runs `body` on a pooled connection, or throws `StoreUnavailable` when none can be had within
    /// `deadline` (a moment, while `reachability` says the database is down): while the database is
    /// unreachable the pool keeps trying to connect, and requests must be answered 503 meanwhile,
    /// not wait for it. Only the wait for a connection is bounded; the statements themselves are
    /// bounded by the server's statement timeout.
    func withConnection<Value: Sendable>(
        within deadline: Duration, reachability: Reachability, _ body: @escaping @Sendable (PostgresConnection) async throws -> Value
    ) async throws -> Value {
        let leased = LeaseFlag()
        let wait = reachability.wait(deadline)
        return try await withThrowingTaskGroup(of: Value?.self) { group in
            group.addTask {
                try await self.withConnection { connection in
                    leased.value.store(true, ordering: .releasing)
                    reachability.connected()
                    do {
                        return try await body(connection)
                    } catch {
                        // The database went away under this operation: the next waits only briefly.
                        if PostgresSession.connectionLost(error, on: connection) { reachability.unreachable() }
                        throw error
                    }
                }
            }
            group.addTask {
                try await Task.sleep(for: wait)
                guard leased.value.load(ordering: .acquiring) else {
                    reachability.unreachable()
                    throw PostgresFault.unreachable
                }
                return nil
            }
            defer { group.cancelAll() }
            while let next = try await group.next() {
                if let value = next { return value }
            }
            throw CancellationError()
        }
    }
}

/// A flag set once: whether a connection was leased in time, whether a caller was answered.
final class LeaseFlag: Sendable {
    let value = Atomic<Bool>(false)

    /// True for the one caller that sets it.
    func claim() -> Bool { value.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged }
}

/// Bounds a whole store operation, whatever it waits on: past `limit` its caller is told the
/// store is unavailable (503 with `Retry-After`) and the operation is cancelled and left to end
/// by itself. Never a false success: a write that commits after its caller was told 503 is one the
/// caller may send again, and idempotency keys make that safe.
enum Deadline {
    static func run<Value: Sendable>(_ limit: Duration, _ operation: @escaping @Sendable () async throws -> Value) async throws -> Value {
        let answered = LeaseFlag()
        let work = TaskBox()
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Value, any Error>) in
            let timer = Task {
                try? await Task.sleep(for: limit)
                guard !Task.isCancelled, answered.claim() else { return }
                work.task.withLock { $0?.cancel() }
                continuation.resume(throwing: StoreUnavailable("the database did not answer in time"))
            }
            work.task.withLock { task in
                task = Task {
                    let result: Result<Value, any Error>
                    do { result = .success(try await operation()) } catch { result = .failure(error) }
                    timer.cancel()
                    if answered.claim() { continuation.resume(with: result) }
                }
            }
        }
    }
}

/// The task doing an operation, for its deadline to cancel.
private final class TaskBox: Sendable {
    let task = Mutex<Task<Void, Never>?>(nil)
}
