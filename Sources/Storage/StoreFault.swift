import GRDB

/// Sorts storage errors: those that mean the store cannot take writes for now (a full disk, an
/// I/O error, a database file that cannot be opened or is read-only, a lock held past the busy
/// timeout) from faults in the gateway. The first are answered 503 with `Retry-After`, never a
/// false 202, and pass when the cause does, without a restart.
public enum StoreFault {
    public static func isUnavailable(_ error: any Error) -> Bool {
        if error is StoreUnavailable { return true }
        guard let error = error as? DatabaseError else { return false }
        switch error.resultCode {
        case .SQLITE_FULL, .SQLITE_IOERR, .SQLITE_CANTOPEN, .SQLITE_READONLY, .SQLITE_BUSY, .SQLITE_LOCKED: return true
        default: return false
        }
    }

    /// A sentence an operator can act on, naming no data: what kind of failure it was.
    public static func summary(_ error: any Error) -> String {
        if let error = error as? StoreUnavailable { return error.reason }
        guard let error = error as? DatabaseError else { return "\(type(of: error))" }
        switch error.resultCode {
        case .SQLITE_FULL: return "the disk holding the database is full"
        case .SQLITE_IOERR: return "the disk holding the database reported an I/O error"
        case .SQLITE_CANTOPEN: return "the database file cannot be opened"
        case .SQLITE_READONLY: return "the database is read-only"
        case .SQLITE_BUSY, .SQLITE_LOCKED: return "the database is locked by another process"
        default: return "SQLite error \(error.resultCode.rawValue)"
        }
    }
}

/// The store cannot take writes for now, for a reason the store names.
public struct StoreUnavailable: Error, Sendable, CustomStringConvertible {
    public var reason: String
    /// Whether the database server itself cannot be reached (refused, closed, timed out), rather
    /// than refusing this one operation (a full disk, a conflict): a server store then waits only a
    /// moment for connections until one is made again.
    public var serverUnreachable: Bool

    public var description: String { reason }

    public init(_ reason: String, serverUnreachable: Bool = false) {
        self.reason = reason
        self.serverUnreachable = serverUnreachable
    }
}

/// A stored value this gateway cannot read (written by a newer version, or changed by hand): an
/// error naming where it is, never a silent default that would treat the row as something else.
public struct StoredValueUnreadable: Error, Sendable, CustomStringConvertible {
    public var table: String
    /// The row's id (for secrets, its first characters).
    public var row: String
    public var column: String
    public var value: String?

    public init(table: String, row: String, column: String, value: String? = nil) {
        self.table = table
        self.row = row
        self.column = column
        self.value = value
    }

    public var description: String {
        "the \(column) of \(table) row \(row) cannot be read\(value.map { " ('\($0)')" } ?? ""): was the database written by a newer gateway, or edited by hand?"
    }
}

extension StoredValueUnreadable {
    /// `raw` read as a `T`, or this error naming the table, row and column it came from.
    public static func read<T: RawRepresentable>(_ raw: String, as type: T.Type, table: String, row: String, column: String) throws -> T
    where T.RawValue == String {
        guard let value = T(rawValue: raw) else { throw StoredValueUnreadable(table: table, row: row, column: column, value: raw) }
        return value
    }
}
