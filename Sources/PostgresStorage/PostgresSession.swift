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

extension PostgresClient {
    /// Runs `body` on a pooled connection, or throws `StoreUnavailable` when none can be had within
    /// `deadline`: while the database is unreachable the pool keeps trying to connect, and requests
    /// must be answered 503 meanwhile, not wait for it. Only the wait for a connection is bounded;
    /// the statements themselves are bounded by the server's statement timeout.
    func withConnection<Value: Sendable>(
        within deadline: Duration, _ body: @escaping @Sendable (PostgresConnection) async throws -> Value
    ) async throws -> Value {
        let leased = LeaseFlag()
        return try await withThrowingTaskGroup(of: Value?.self) { group in
            group.addTask {
                try await self.withConnection { connection in
                    leased.value.store(true, ordering: .releasing)
                    return try await body(connection)
                }
            }
            group.addTask {
                try await Task.sleep(for: deadline)
                guard leased.value.load(ordering: .acquiring) else { throw StoreUnavailable("the database server cannot be reached") }
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

/// Whether a connection was leased in time.
private final class LeaseFlag: Sendable {
    let value = Atomic<Bool>(false)
}
