import Foundation

/// Where the store lives, from `storage.url` in switchboard.yaml.
public enum StorageLocation: Sendable, Equatable {
    case sqlite(path: String)
    /// A PostgreSQL database that several gateways may share.
    case postgres(PostgresLocation)

    /// Whether several gateways may run on it at once: then the stored rules and agencies, not the
    /// files, are what every gateway follows.
    public var isShared: Bool { if case .postgres = self { true } else { false } }

    /// Parses `sqlite:PATH` (relative paths are relative to `base`) or a `postgres://` URL.
    public static func parse(_ url: String, relativeTo base: URL? = nil) -> StorageLocation? {
        if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") { return PostgresLocation(url: url).map(StorageLocation.postgres) }
        guard url.hasPrefix("sqlite:") else { return nil }
        var path = String(url.dropFirst("sqlite:".count))
        if path.hasPrefix("//") { path = String(path.dropFirst(2)) }
        guard !path.isEmpty else { return nil }
        if !path.hasPrefix("/"), let base { path = base.appendingPathComponent(path).path }
        return .sqlite(path: path)
    }

    /// Finds the storage location alone, for commands that read the database without running the
    /// gateway (and so without the keys and secrets `serve` needs). `override` is a storage URL
    /// given on the command line, relative to the working directory.
    public static func configured(configPath: String, override: String?) throws(ConfigError) -> StorageLocation {
        if let override {
            guard let location = parse(override, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)) else {
                throw ConfigError(issues: [
                    ConfigIssue(
                        file: "--storage", line: 1, column: 1, message: "'\(override)' is not a storage URL",
                        hint: "use sqlite:PATH or postgres://USER@HOST:PORT/DATABASE")
                ])
            }
            return location
        }
        let reader = ConfigReader(file: configPath)
        guard let text = try? String(contentsOfFile: configPath, encoding: .utf8) else {
            throw ConfigError(issues: [
                ConfigIssue(
                    file: configPath, line: 1, column: 1, message: "cannot read the configuration file",
                    hint: "pass --config PATH or --storage URL")
            ])
        }
        let root = reader.compose(text)
        let base = URL(fileURLWithPath: configPath).deletingLastPathComponent()
        if case .mapping(let top)? = root, let storage = top["storage"], case .mapping(let entries) = storage,
            let url = entries["url"]?.string, var location = parse(url, relativeTo: base)
        {
            if case .postgres(var postgres) = location {
                postgres.passwordEnv = entries["password_env"]?.string
                postgres.caFile = entries["ca_file"]?.string.map { $0.hasPrefix("/") ? $0 : base.appendingPathComponent($0).path }
                location = .postgres(postgres)
            }
            return location
        }
        reader.fail(root, "no usable storage.url in this file", hint: "storage:\n      url: sqlite:PATH")
        throw ConfigError(issues: reader.issues)
    }
}

/// Where a PostgreSQL store is, from `storage.url: postgres://USER@HOST:PORT/DATABASE?sslmode=…`
/// and the storage section's other settings. The password is never in the file: `password_env`
/// names the environment variable that holds it.
public struct PostgresLocation: Sendable, Equatable {
    /// As libpq's `sslmode`: `require` encrypts without checking who answers; `verify-full` also
    /// checks the server's certificate and name (against `ca_file`, else the system's roots).
    public enum TLS: String, Sendable, Equatable, CaseIterable {
        case disable, prefer, require
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var user: String
    public var database: String
    public var tls: TLS
    /// The environment variable holding the password; nil where the server needs none (trust or peer).
    public var passwordEnv: String?
    /// The certificate authority (PEM) to check the server's certificate against, for `verify-full`.
    public var caFile: String?
    /// Connections each gateway may open.
    public var poolSize: Int = 10
    /// The longest one statement may run before the database cancels it (and the request gets 503).
    public var statementTimeoutSeconds: Int = 5
    /// The longest an operation waits for a connection before it is answered 503 (the database
    /// unreachable, or every connection busy).
    public var connectTimeoutSeconds: Double = 0.6

    public init(host: String, port: Int = 5432, user: String, database: String, tls: TLS = .disable, passwordEnv: String? = nil) {
        self.host = host
        self.port = port
        self.user = user
        self.database = database
        self.tls = tls
        self.passwordEnv = passwordEnv
    }

    /// Parses the URL; nil when it is not one this gateway can use (no user, no database, a
    /// password written in it, an unknown sslmode).
    public init?(url: String) {
        guard let components = URLComponents(string: url), let host = components.host, !host.isEmpty, let user = components.user, !user.isEmpty,
            components.password == nil
        else { return nil }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else { return nil }
        var tls = TLS.disable
        for item in components.queryItems ?? [] {
            guard item.name == "sslmode", let mode = item.value.flatMap(TLS.init(rawValue:)) else { return nil }
            tls = mode
        }
        self.init(host: host, port: components.port ?? 5432, user: user, database: database, tls: tls)
    }

    /// The URL without any secret, as it may be shown.
    public var url: String { "postgres://\(user)@\(host):\(port)/\(database)" + (tls == .disable ? "" : "?sslmode=\(tls.rawValue)") }
}
