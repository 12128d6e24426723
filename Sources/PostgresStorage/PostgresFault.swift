import NIOSSL
import PostgresNIO
import Storage

/// Sorts PostgreSQL's errors as `StoreFault` sorts SQLite's: a database that cannot be reached, is
/// shutting down, is out of disk or connections, or did not answer within the statement timeout
/// becomes `StoreUnavailable` (503 with `Retry-After`, never a false 202); anything else is a fault.
enum PostgresFault {
    /// The database server cannot be reached: the one signal that marks it down (`Reachability`).
    static var unreachable: StoreUnavailable { StoreUnavailable("the database server cannot be reached", serverUnreachable: true) }

    /// SQLSTATE classes and codes that mean "not now": connection exceptions (08), insufficient
    /// resources (53: disk full, out of memory, too many connections), operator intervention (57:
    /// shutdown, statement timeout as query_canceled 57014), lock timeouts (55P03), deadlocks and
    /// serialisation failures (40001, 40P01), and the system errors of class 58.
    static func isUnavailable(sqlState: String) -> Bool {
        ["08", "53", "57", "58"].contains(String(sqlState.prefix(2))) || ["55P03", "40001", "40P01"].contains(sqlState)
    }

    static func sqlState(_ error: any Error) -> String? {
        if let error = error as? PSQLError { return error.serverInfo?[.sqlState] }
        if let error = error as? PostgresTransactionError {
            return [error.closureError, error.commitError, error.beginError].lazy.compactMap { $0.flatMap(sqlState) }.first
        }
        return nil
    }

    /// Whether a whole batch may simply run again: the database broke a deadlock or a serialisation conflict.
    static func isRetryable(_ error: any Error) -> Bool {
        guard let state = sqlState(error) else { return false }
        return state == "40001" || state == "40P01"
    }

    /// The error to throw to the store's callers.
    static func translate(_ error: any Error) -> any Error {
        if error is StoreUnavailable || error is CancellationError { return error }
        if let state = sqlState(error) {
            guard isUnavailable(sqlState: state) else { return error }
            return StoreUnavailable(reason(sqlState: state))
        }
        if let error = error as? PSQLError {
            switch error.code {
            case .server: return error
            case .serverClosedConnection, .connectionError, .clientClosedConnection, .poolClosed, .uncleanShutdown, .queryCancelled:
                return unreachable
            default: return error
            }
        }
        if let error = error as? PostgresTransactionError {
            for inner in [error.beginError, error.closureError, error.commitError].compactMap({ $0 }) {
                let translated = translate(inner)
                if translated is StoreUnavailable { return translated }
            }
            return error
        }
        // Connecting failed below PostgresNIO (refused, unreachable, timed out).
        let name = "\(type(of: error))"
        if name.contains("Connect") || name.contains("IOError") || name.contains("ChannelError") {
            return unreachable
        }
        return error
    }

    /// Why a connection could not be made, as a sentence an operator can act on: the address,
    /// the user or password, TLS, or the database's name. It is `StoreUnavailable` (a request
    /// meanwhile gets 503); at start-up the gateway prints it and stops.
    static func connecting(_ error: any Error, to configuration: PostgresConnection.Configuration) -> any Error {
        let user = configuration.username
        let database = configuration.database ?? user
        let place = "\(configuration.host ?? "the database server"):\(configuration.port ?? 5432)"
        if let error = error as? PSQLError {
            let state = error.serverInfo?[.sqlState] ?? ""
            switch (error.code, state.prefix(2), state) {
            case (.server, "28", _):
                return StoreUnavailable(
                    "the database server at \(place) refused user \(user): check the password (storage.password_env) and its pg_hba.conf")
            case (.server, _, "3D000"): return StoreUnavailable("there is no database \(database) at \(place): create it, or correct storage.url")
            case (.sslUnsupported, _, _):
                return StoreUnavailable("the database server at \(place) does not offer TLS, which the url's sslmode asks for")
            case (.authMechanismRequiresPassword, _, _):
                return StoreUnavailable("the database server at \(place) asks user \(user) for a password: name its variable in storage.password_env")
            case (.server, _, _): return StoreUnavailable(reason(sqlState: state) + " (at \(place))")
            default: break
            }
        }
        let underlying = (error as? PSQLError)?.underlying
        if [error, underlying].contains(where: { $0 is NIOSSLError || $0.map { "\(type(of: $0))".contains("SSL") } == true }) {
            return StoreUnavailable(
                "a TLS connection to the database server at \(place) failed: its certificate is not trusted (storage.ca_file), or does not name the host"
            )
        }
        return StoreUnavailable("cannot connect to the database server at \(place): is it running, and does it listen there?")
    }

    /// A sentence an operator can act on, naming no data.
    static func reason(sqlState: String) -> String {
        switch sqlState.prefix(2) {
        case "08": return "the connection to the database server failed"
        case "53": return sqlState == "53100" ? "the disk holding the database is full" : "the database server is out of resources"
        case "57": return sqlState == "57014" ? "the database did not answer within the statement timeout" : "the database server is shutting down"
        default:
            return sqlState.hasPrefix("40") || sqlState == "55P03"
                ? "the database is busy with conflicting writes" : "the database server reported a system error"
        }
    }
}
