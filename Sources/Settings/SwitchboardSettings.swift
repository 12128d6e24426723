import BaRS
import Foundation
import ReferralModel
import Yams

#if canImport(Glibc)
    import Glibc
#endif

/// `config/switchboard.yaml` as typed values: the server, the store, the needs vocabulary, the API
/// keys and the limits, and where the agencies and rules files are. Every problem is reported
/// with its file, line and column; the other files are read by their own readers.
public struct SwitchboardSettings: Sendable {
    public struct Server: Sendable, Equatable {
        public var host = "127.0.0.1"
        public var port = 8080
        /// Connections served at once; past it a new one takes the place of the oldest that has
        /// not yet sent a request, or is closed when every one has.
        public var maxConnections = 1_024
        /// Connections one client address may hold (a trusted proxy's is not capped); absent, a
        /// quarter of `maxConnections`.
        public var maxConnectionsPerAddress: Int?
        /// What one address may hold, as configured or by default.
        public var connectionsPerAddress: Int { min(maxConnections, maxConnectionsPerAddress ?? max(1, maxConnections / 4)) }
        /// How long a client has to send a request's headers, and to wait idle between requests.
        public var headerTimeoutSeconds = 10.0
        /// How long a client has to send a request's body once its headers are in.
        public var bodyTimeoutSeconds = 30.0
        /// On SIGTERM, how long deliveries in flight have to finish before they are abandoned (a
        /// restart sends them again, with the same webhook-id).
        public var shutdownSeconds = 30.0
        /// When the gateway terminates TLS itself: the PEM certificate chain and private key files,
        /// resolved against the configuration's folder. Both or neither.
        public var tlsCertificateFile: String?
        public var tlsKeyFile: String?
        /// Proxies in front of the gateway (addresses or CIDR blocks): behind one, the front door
        /// counts a request under the client address `X-Forwarded-For` gives.
        public var trustedProxies: [String] = []

        public init(
            host: String = "127.0.0.1", port: Int = 8080, maxConnections: Int = 1_024, headerTimeoutSeconds: Double = 10,
            bodyTimeoutSeconds: Double = 30
        ) {
            self.host = host
            self.port = port
            self.maxConnections = maxConnections
            self.headerTimeoutSeconds = headerTimeoutSeconds
            self.bodyTimeoutSeconds = bodyTimeoutSeconds
        }
    }

    public struct Delivery: Sendable, Equatable {
        /// Attempts in flight at once, across all agencies; each agency also has its own limit.
        public var concurrency = 64
        /// The shortest a leased job is a worker's before another may take it; an agency whose
        /// timeouts are longer gets a lease longer than them.
        public var leaseSeconds = 120.0

        public init(concurrency: Int = 64, leaseSeconds: Double = 120) {
            self.concurrency = concurrency
            self.leaseSeconds = leaseSeconds
        }
    }

    public struct RateLimit: Sendable, Equatable {
        /// Requests per second each API key may make.
        public var requestsPerSecond = 200.0
        /// How many requests a key may save up.
        public var burst = 400.0
        /// Requests without a valid key each client address may make a minute before it is answered 429.
        public var refusedPerMinute = 30.0

        public init(requestsPerSecond: Double = 200, burst: Double = 400, refusedPerMinute: Double = 30) {
            self.requestsPerSecond = requestsPerSecond
            self.burst = burst
            self.refusedPerMinute = refusedPerMinute
        }
    }

    public var server = Server()
    public var storage: StorageLocation
    /// Free space kept on the database's disk, in MB: below it, intake answers 503 and `/readyz`
    /// reports not ready, so deliveries, answers and the audit trail can still be written.
    public var storageReserveMB = 64
    /// Where the key that encrypts personal data at rest is (`storage.encryption`); nil: not encrypted.
    public var storageEncryption: StorageEncryption?
    public var vocabulary = NeedsVocabulary.standard
    public var apiKeys: [APIKey] = []
    public var delivery = Delivery()
    public var rateLimit = RateLimit()
    /// How often the rules file is checked for changes, in seconds; 0 leaves it to SIGHUP.
    public var rulesWatchSeconds = 2.0
    /// The agencies file, resolved against the configuration's folder.
    public var agenciesPath: String
    /// The rules file, resolved against the configuration's folder.
    public var rulesPath: String
    /// Whether every change to the rules, or to the agencies, is a proposal a second
    /// administrator must approve (`approval: required` under `rules` or `agencies`). The rules
    /// file is then not reloaded when saved.
    /// How long the personal data of a closed referral is kept, in days (`retention_days`; 8 years
    /// by default, the NHS records management code's period for most adult health records).
    public var retentionDays = 2_920
    /// The retention policy the gateway runs itself each day (`retention`); nil: only by hand (`switchboard prune`).
    public var retention: RetentionSchedule?
    /// Staff sign-in to the console through an OpenID Connect provider (`console.oidc`), if set.
    public var staffSignIn: StaffSignInSettings?
    /// Where the audit chain's head is anchored outside the database, if it is.
    public var auditCheckpoints: AuditCheckpoints?
    /// Where a person on call is alerted to emergency and urgent attention items, if anywhere.
    public var alerts: AlertSettings?
    /// `fhir_in`: how codes in BaRS messages that come in become needs, urgencies and safeguarding concerns.
    public var fhirConcepts = FHIRConceptMap()
    public var rulesApprovalRequired = false
    public var agenciesApprovalRequired = false
    /// `environment`: whether this gateway routes real people's referrals (`production`) or test
    /// data (`test`); nil when not said, which is `test`, with a warning at every start.
    public var environment: DeploymentEnvironment?
    /// The configuration file itself, for messages.
    public var path: String

    /// Reads `path`. Environment variables the file names (`key_env`) are read from `environment`.
    /// - Parameter requireSecrets: false for commands that only read the configuration, so keys
    ///   need not be in the environment.
    public static func load(
        path: String, environment: [String: String] = ProcessInfo.processInfo.environment, requireSecrets: Bool = true
    ) throws(ConfigError) -> SwitchboardSettings {
        let (settings, issues) = read(path: path, environment: environment, requireSecrets: requireSecrets)
        guard issues.isEmpty, let settings else { throw ConfigError(issues: issues) }
        return settings
    }

    /// Reads `path` as far as it can: the settings (nil when the file cannot be read or names no
    /// storage, agencies or rules) and every problem found. A caller that reads the other files
    /// too reports their problems alongside these.
    public static func read(
        path: String, environment: [String: String], requireSecrets: Bool
    ) -> (settings: SwitchboardSettings?, issues: [ConfigIssue]) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            return (nil, [ConfigIssue(file: path, line: 1, column: 1, message: "cannot read the configuration file", hint: "pass --config PATH")])
        }
        let reader = ConfigReader(file: path)
        let sections = SectionReader(reader: reader, base: URL(fileURLWithPath: path).deletingLastPathComponent())
        let top = reader.mapping(
            reader.compose(text), "switchboard.yaml",
            allowed: [
                "server", "storage", "agencies", "rules", "needs", "api_keys", "delivery", "limits", "rules_reload", "audit", "retention_days",
                "alerts", "fhir_in", "environment", "retention", "console",
            ],
            required: ["storage", "agencies", "rules", "api_keys"])
        let storage = sections.storage(top?["storage"])
        let (agencies, agenciesApproval) = sections.governedFile(top?["agencies"], "agencies")
        let (rules, rulesApproval) = sections.governedFile(top?["rules"], "rules")
        var settings = SwitchboardSettings(
            storage: storage ?? .sqlite(path: ""), agenciesPath: agencies ?? "", rulesPath: rules ?? "", path: path)
        settings.rulesApprovalRequired = rulesApproval
        settings.agenciesApprovalRequired = agenciesApproval
        settings.server = sections.server(top?["server"])
        settings.storageReserveMB = sections.storageReserve(top?["storage"])
        settings.storageEncryption = sections.storageEncryption(top?["storage"], environment: environment, requireSecrets: requireSecrets)
        settings.vocabulary = sections.vocabulary(top?["needs"])
        settings.apiKeys = sections.apiKeys(top?["api_keys"], environment: environment, requireSecrets: requireSecrets)
        settings.delivery = sections.delivery(top?["delivery"])
        settings.rateLimit = sections.rateLimit(top?["limits"])
        settings.rulesWatchSeconds = sections.rulesWatchSeconds(top?["rules_reload"])
        settings.retentionDays = reader.integer(top?["retention_days"], "retention_days", range: 30...36_500) ?? settings.retentionDays
        settings.retention = sections.retention(top?["retention"], legacyDays: top?["retention_days"])
        settings.staffSignIn = sections.staffSignIn(top?["console"], environment: environment, requireSecrets: requireSecrets)
        if let retention = settings.retention { settings.retentionDays = retention.closedAfterDays }
        settings.auditCheckpoints = sections.auditCheckpoints(top?["audit"], environment: environment, requireSecrets: requireSecrets)
        settings.alerts = sections.alerts(top?["alerts"], environment: environment, requireSecrets: requireSecrets)
        settings.fhirConcepts = sections.fhirConcepts(top?["fhir_in"], vocabulary: settings.vocabulary)
        settings.environment = sections.environment(top?["environment"])
        // Without the other files' paths the caller cannot go on; a broken storage URL is already an issue.
        return (agencies != nil && rules != nil ? settings : nil, reader.issues)
    }
}

/// One small reader per section of switchboard.yaml, each reporting into the same `ConfigReader`.
struct SectionReader {
    let reader: ConfigReader
    let base: URL

    func resolve(_ relative: String) -> String {
        relative.hasPrefix("/") ? relative : base.appendingPathComponent(relative).path
    }

    /// `rules: rules.yaml`, or `rules: {file: rules.yaml, approval: required}` (the same for
    /// agencies): the file, and whether its changes need a second administrator's approval.
    func governedFile(_ node: Node?, _ name: String) -> (path: String?, approval: Bool) {
        guard let node else { return (nil, false) }
        guard case .mapping = node else { return (reader.string(node, name).map(resolve), false) }
        guard let entries = reader.mapping(node, name, allowed: ["file", "approval"], required: ["file"]) else { return (nil, false) }
        let file = reader.string(entries["file"], "file").map(resolve)
        let approval = reader.string(entries["approval"], "approval") ?? "none"
        guard ["required", "none"].contains(approval) else {
            reader.fail(
                entries["approval"], "approval must be required or none, not '\(approval)'",
                hint: "required: every change to \(name) is a proposal a second administrator approves")
            return (file, false)
        }
        return (file, approval == "required")
    }

    func auditCheckpoints(_ node: Node?, environment: [String: String], requireSecrets: Bool) -> AuditCheckpoints? {
        guard let node else { return nil }
        guard
            let entries = reader.mapping(
                node, "audit", allowed: ["checkpoint_file", "key_env", "signing_key_file", "checkpoint_seconds"], required: ["checkpoint_file"]),
            let file = reader.string(entries["checkpoint_file"], "checkpoint_file").map(resolve)
        else { return nil }
        let name = reader.string(entries["key_env"], "key_env")
        let signingFile = reader.string(entries["signing_key_file"], "signing_key_file").map(resolve)
        guard name != nil || signingFile != nil else {
            reader.fail(
                node, "audit needs key_env (an HMAC key in the environment) or signing_key_file (an Ed25519 note key), or both",
                hint: "signing_key_file makes the log checkable by others: switchboard audit signing-key new audit-signing.key")
            return nil
        }
        let key = name.flatMap { environment[$0] }.flatMap { $0.isEmpty ? nil : $0 }
        if let name {
            if let key, key.count < 32 {
                reader.fail(entries["key_env"], "the audit key in \(name) is shorter than 32 characters", hint: "head -c 32 /dev/urandom | base64")
            } else if key == nil, requireSecrets {
                reader.fail(
                    entries["key_env"], "environment variable \(name) is not set",
                    hint: "the key that signs the audit checkpoints, kept away from the database: head -c 32 /dev/urandom | base64")
            }
        }
        let signingKey = signingFile.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) }
        if let signingFile, requireSecrets {
            if signingKey == nil {
                reader.fail(
                    entries["signing_key_file"], "the audit signing key file \(signingFile) cannot be read",
                    hint: "write one with: switchboard audit signing-key new \(signingFile)")
            } else if signingKey?.hasPrefix("PRIVATE+KEY+") != true {
                reader.fail(
                    entries["signing_key_file"], "\(signingFile) does not hold an audit signing key",
                    hint: "it holds one line, PRIVATE+KEY+name+id+key, as written by: switchboard audit signing-key new FILE")
            }
        }
        let seconds = reader.number(entries["checkpoint_seconds"], "checkpoint_seconds", range: 1...86_400) ?? 60
        return AuditCheckpoints(file: file, keyEnv: name, key: key, signingKeyFile: signingFile, signingKey: signingKey, seconds: seconds)
    }

    func server(_ node: Node?) -> SwitchboardSettings.Server {
        var server = SwitchboardSettings.Server()
        guard
            let entries = reader.mapping(
                node, "server",
                allowed: [
                    "host", "port", "max_connections", "max_connections_per_address", "header_timeout_seconds", "body_timeout_seconds",
                    "shutdown_seconds", "tls", "trusted_proxies",
                ])
        else { return server }
        server.host = reader.string(entries["host"], "host") ?? server.host
        server.port = reader.integer(entries["port"], "port", range: 0...65535) ?? server.port
        server.maxConnections = reader.integer(entries["max_connections"], "max_connections", range: 1...1_000_000) ?? server.maxConnections
        server.maxConnectionsPerAddress = reader.integer(
            entries["max_connections_per_address"], "max_connections_per_address", range: 1...1_000_000)
        server.headerTimeoutSeconds =
            reader.number(entries["header_timeout_seconds"], "header_timeout_seconds", range: 0.1...3_600) ?? server.headerTimeoutSeconds
        server.bodyTimeoutSeconds =
            reader.number(entries["body_timeout_seconds"], "body_timeout_seconds", range: 0.1...3_600) ?? server.bodyTimeoutSeconds
        server.shutdownSeconds = reader.number(entries["shutdown_seconds"], "shutdown_seconds", range: 0...3_600) ?? server.shutdownSeconds
        for (index, entry) in (reader.sequence(entries["trusted_proxies"], "trusted_proxies") ?? []).enumerated() {
            guard let text = reader.string(entry, "trusted_proxies[\(index)]") else { continue }
            if Self.isNetwork(text) {
                server.trustedProxies.append(text)
            } else {
                reader.fail(entry, "'\(text)' is not an IP address or CIDR block", hint: "for example 10.0.0.0/8, 192.0.2.10 or 2001:db8::/32")
            }
        }
        if let tls = reader.mapping(entries["tls"], "tls", allowed: ["certificate_file", "key_file"], required: ["certificate_file", "key_file"]) {
            for (key, label) in [("certificate_file", "certificate"), ("key_file", "private key")] {
                guard let name = reader.string(tls[key], key) else { continue }
                let path = name.hasPrefix("/") ? name : base.appendingPathComponent(name).path
                if !FileManager.default.isReadableFile(atPath: path) {
                    reader.fail(tls[key], "the TLS \(label) file \(path) cannot be read", hint: "give a PEM file the gateway's user may read")
                }
                if key == "certificate_file" { server.tlsCertificateFile = path } else { server.tlsKeyFile = path }
            }
        }
        return server
    }

    /// An IP address, or one with a prefix length (`10.0.0.0/8`).
    static func isNetwork(_ text: String) -> Bool {
        let parts = text.split(separator: "/", maxSplits: 1).map(String.init)
        var v4 = in_addr()
        var v6 = in6_addr()
        let bits = inet_pton(AF_INET, parts[0], &v4) == 1 ? 32 : inet_pton(AF_INET6, parts[0], &v6) == 1 ? 128 : 0
        guard bits > 0 else { return false }
        return parts.count == 1 || Int(parts[1]).map { (0...bits).contains($0) } == true
    }

    func storageReserve(_ node: Node?) -> Int {
        guard case .mapping(let entries)? = node else { return 64 }
        return reader.integer(entries["reserve_mb"], "reserve_mb", range: 0...1_000_000) ?? 64
    }

    func storage(_ node: Node?) -> StorageLocation? {
        guard
            let entries = reader.mapping(
                node, "storage",
                allowed: [
                    "url", "reserve_mb", "password_env", "pool_size", "statement_timeout_seconds", "connect_timeout_seconds", "ca_file",
                    "encryption",
                ],
                required: ["url"]),
            let url = reader.string(entries["url"], "url")
        else { return nil }
        if url.contains("://"), URLComponents(string: url)?.password != nil {
            reader.fail(
                entries["url"], "storage url has a password written in it",
                hint: "keep the password out of this file: put it in an environment variable and name it in storage.password_env")
            return nil
        }
        guard let location = StorageLocation.parse(url, relativeTo: base) else {
            reader.fail(
                entries["url"], "storage url '\(url)' is not supported",
                hint:
                    "use sqlite:PATH (for example sqlite:../var/switchboard.sqlite) or postgres://USER@HOST:PORT/DATABASE, with ?sslmode=disable, prefer, require or verify-full"
            )
            return nil
        }
        guard case .postgres(var postgres) = location else {
            for key in ["password_env", "pool_size", "statement_timeout_seconds", "connect_timeout_seconds", "ca_file"] where entries[key] != nil {
                reader.fail(entries[key], "storage.\(key) applies to PostgreSQL only", hint: "remove it, or use a postgres:// url")
            }
            return location
        }
        postgres.passwordEnv = reader.string(entries["password_env"], "password_env")
        postgres.poolSize = reader.integer(entries["pool_size"], "pool_size", range: 2...500) ?? 10
        postgres.statementTimeoutSeconds = reader.integer(entries["statement_timeout_seconds"], "statement_timeout_seconds", range: 1...600) ?? 5
        postgres.connectTimeoutSeconds =
            reader.number(entries["connect_timeout_seconds"], "connect_timeout_seconds", range: 0.1...60) ?? postgres.connectTimeoutSeconds
        if let file = reader.string(entries["ca_file"], "ca_file") {
            postgres.caFile = file.hasPrefix("/") ? file : base.appendingPathComponent(file).path
            if postgres.tls != .verifyFull {
                reader.fail(entries["ca_file"], "storage.ca_file is used only with sslmode=verify-full", hint: "add ?sslmode=verify-full to the url")
            }
        }
        return .postgres(postgres)
    }

    func delivery(_ node: Node?) -> SwitchboardSettings.Delivery {
        var delivery = SwitchboardSettings.Delivery()
        guard let entries = reader.mapping(node, "delivery", allowed: ["concurrency", "lease_seconds"]) else { return delivery }
        delivery.concurrency = reader.integer(entries["concurrency"], "concurrency", range: 1...1024) ?? delivery.concurrency
        delivery.leaseSeconds = reader.number(entries["lease_seconds"], "lease_seconds", range: 5...86_400) ?? delivery.leaseSeconds
        return delivery
    }

    func rateLimit(_ node: Node?) -> SwitchboardSettings.RateLimit {
        var limit = SwitchboardSettings.RateLimit()
        guard let entries = reader.mapping(node, "limits", allowed: ["requests_per_second", "burst", "refused_per_minute"]) else { return limit }
        limit.requestsPerSecond =
            reader.number(entries["requests_per_second"], "requests_per_second", range: 0.01...1_000_000) ?? limit.requestsPerSecond
        limit.burst = reader.number(entries["burst"], "burst", range: 1...10_000_000) ?? limit.burst
        limit.refusedPerMinute =
            reader.number(entries["refused_per_minute"], "refused_per_minute", range: 1...1_000_000) ?? limit.refusedPerMinute
        return limit
    }

    func rulesWatchSeconds(_ node: Node?) -> Double {
        guard let entries = reader.mapping(node, "rules_reload", allowed: ["watch_seconds"]) else { return 2 }
        return reader.number(entries["watch_seconds"], "watch_seconds", range: 0...3_600) ?? 2
    }
}

extension SwitchboardSettings {
    /// `YYYY-MM-DD` (the end of that day in Europe/London) or an RFC 3339 time.
    public static func instant(_ text: String) -> Date? {
        if CalendarDate.isValid(text) {
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(identifier: "Europe/London") ?? .gmt
            let parts = text.split(separator: "-").compactMap { Int($0) }
            guard parts.count == 3, let start = calendar.date(from: DateComponents(year: parts[0], month: parts[1], day: parts[2])) else {
                return nil
            }
            return calendar.date(byAdding: .day, value: 1, to: start)
        }
        return Timestamp.parse(text)
    }
}
