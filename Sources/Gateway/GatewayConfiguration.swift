import AdapterKit
import Crypto
import Foundation
import ReferralModel
import Routing
import Storage
import Yams

/// What an API key may do.
public enum Role: String, Sendable, CaseIterable {
    case referrer, agency, admin
}

/// A configured API key: its id (what the audit log records) and role. The key itself is held only
/// as its SHA-256 digest.
public struct APIKey: Sendable, Equatable {
    public var id: String
    public var role: Role
    public var digest: [UInt8]

    public init(id: String, role: Role, digest: [UInt8]) {
        self.id = id
        self.role = role
        self.digest = digest
    }

    public static func digest(of key: String) -> [UInt8] { Array(SHA256.hash(data: Array(key.utf8))) }
}

/// `config/switchboard.yaml` with the files it points at, validated in full.
public struct GatewayConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var storage: StorageLocation
    public var vocabulary: NeedsVocabulary
    public var apiKeys: [APIKey]
    public var agencies: AgencyDirectory
    public var rules: RuleSet
    /// The environment variables agencies' signing secrets are read from, resolved.
    public var agencySecrets: [String: String]
    /// Each agency's adapter, set up from its options, by agency id.
    public var adapters: [String: any AgencyAdapter]
    public var deliveryConcurrency: Int
    public var leaseSeconds: Double
    /// Requests per second each API key may make, and the burst it may save up.
    public var rateLimit: Double
    public var rateBurst: Double
    /// Where the configuration came from, for messages.
    public var path: String
    /// The rules file: reloaded on SIGHUP or when it changes, and written when rules are applied
    /// through the API.
    public var rulesPath: String
    /// How often the rules file is checked for changes, in seconds; 0 leaves it to SIGHUP.
    public var rulesWatchSeconds: Double

    /// The adapter names `agencies.yaml` may use.
    public static var adapterNames: Set<String> { AdapterCatalogue.registry.names }

    /// Loads `path` and the agencies and rules files it names, reporting every problem with its
    /// file, line and column. Environment variables named by the files are read from `environment`.
    /// - Parameter requireSecrets: false for commands that only read the configuration (rendering
    ///   what an agency would be sent), so keys and signing secrets need not be in the environment.
    public static func load(
        path: String, environment: [String: String] = ProcessInfo.processInfo.environment, requireSecrets: Bool = true
    ) throws(ConfigError) -> GatewayConfiguration {
        let reader = ConfigReader(file: path)
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigError(issues: [
                ConfigIssue(file: path, line: 1, column: 1, message: "cannot read the configuration file", hint: "pass --config PATH")
            ])
        }
        let base = URL(fileURLWithPath: path).deletingLastPathComponent()
        func resolve(_ relative: String) -> String {
            relative.hasPrefix("/") ? relative : base.appendingPathComponent(relative).path
        }
        let root = reader.compose(text)
        let top = reader.mapping(
            root, "switchboard.yaml",
            allowed: ["server", "storage", "agencies", "rules", "needs", "api_keys", "delivery", "limits", "rules_reload"],
            required: ["storage", "agencies", "rules", "api_keys"])
        var host = "127.0.0.1"
        var port = 8080
        if let server = reader.mapping(top?["server"], "server", allowed: ["host", "port"]) {
            host = reader.string(server["host"], "host") ?? host
            port = reader.integer(server["port"], "port", range: 0...65535) ?? port
        }
        var storage: StorageLocation?
        if let storageEntry = reader.mapping(top?["storage"], "storage", allowed: ["url"], required: ["url"]),
            let url = reader.string(storageEntry["url"], "url")
        {
            storage = StorageLocation.parse(url, relativeTo: base)
            if storage == nil {
                reader.fail(storageEntry["url"], "storage url '\(url)' is not supported", hint: "use sqlite:PATH, for example sqlite:../var/switchboard.sqlite")
            }
        }
        var vocabulary = NeedsVocabulary.standard
        if let needs = reader.strings(top?["needs"], "needs") {
            vocabulary = NeedsVocabulary(needs)
            if needs.isEmpty { reader.fail(top?["needs"], "needs must list at least one code") }
            for need in needs
            where need.isEmpty || need.utf8.count > 64
                || !need.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == UInt8(ascii: "-") })
            {
                reader.fail(top?["needs"], "need code '\(need)' must be lower-case letters, digits and hyphens", hint: "for example falls-prevention")
            }
            if Set(needs).count != needs.count { reader.fail(top?["needs"], "needs lists a code twice") }
        }
        var keys: [APIKey] = []
        for node in reader.sequence(top?["api_keys"], "api_keys") ?? [] {
            guard
                let entry = reader.mapping(node, "an API key", allowed: ["id", "role", "sha256", "key_env"], required: ["id", "role"])
            else { continue }
            let id = reader.string(entry["id"], "id")
            if let id, keys.contains(where: { $0.id == id }) { reader.fail(entry["id"], "API key id '\(id)' is used twice") }
            let roleText = reader.string(entry["role"], "role")
            let role = roleText.flatMap(Role.init(rawValue:))
            if roleText != nil, role == nil { reader.fail(entry["role"], "role must be referrer, agency or admin") }
            var digest: [UInt8]?
            switch (entry["sha256"], entry["key_env"]) {
            case (let node?, nil):
                if let hex = reader.string(node, "sha256") {
                    digest = Self.bytes(fromHex: hex)
                    if digest?.count != 32 { reader.fail(node, "sha256 must be 64 hexadecimal characters", hint: "printf %s \"$KEY\" | sha256sum") }
                }
            case (nil, let node?):
                if let name = reader.string(node, "key_env") {
                    if let key = environment[name], !key.isEmpty {
                        if key.utf8.count < 16 { reader.fail(node, "the key in $\(name) is shorter than 16 characters", hint: "use a long random key: openssl rand -hex 32") }
                        digest = APIKey.digest(of: key)
                    } else if requireSecrets {
                        reader.fail(node, "environment variable \(name) is not set", hint: "export \(name)=<key> before starting the gateway")
                    }
                }
            case (.some, .some):
                reader.fail(node, "give either sha256 or key_env, not both")
            case (nil, nil):
                reader.fail(node, "an API key needs sha256 (the key's SHA-256 digest) or key_env (an environment variable holding the key)", hint: "never write a key in clear in this file")
            }
            if let id, let role, let digest { keys.append(APIKey(id: id, role: role, digest: digest)) }
        }
        var concurrency = 16
        var leaseSeconds = 120.0
        if let delivery = reader.mapping(top?["delivery"], "delivery", allowed: ["concurrency", "lease_seconds"]) {
            concurrency = reader.integer(delivery["concurrency"], "concurrency", range: 1...1024) ?? concurrency
            leaseSeconds = reader.number(delivery["lease_seconds"], "lease_seconds", range: 5...86_400) ?? leaseSeconds
        }
        var rateLimit = 200.0
        var rateBurst = 400.0
        if let limits = reader.mapping(top?["limits"], "limits", allowed: ["requests_per_second", "burst"]) {
            rateLimit = reader.number(limits["requests_per_second"], "requests_per_second", range: 0.01...1_000_000) ?? rateLimit
            rateBurst = reader.number(limits["burst"], "burst", range: 1...10_000_000) ?? rateBurst
        }

        var watchSeconds = 2.0
        if let reload = reader.mapping(top?["rules_reload"], "rules_reload", allowed: ["watch_seconds"]) {
            watchSeconds = reader.number(reload["watch_seconds"], "watch_seconds", range: 0...3_600) ?? watchSeconds
        }

        // Problems in the files switchboard.yaml points at, and in the environment they name.
        var elsewhere: [ConfigIssue] = []
        var agencies: AgencyDirectory?
        var rules: RuleSet?
        var rulesPath = ""
        var secrets: [String: String] = [:]
        var adapters: [String: any AgencyAdapter] = [:]
        if let agenciesPath = reader.string(top?["agencies"], "agencies") {
            do {
                let directory = try AgencyDirectory.load(path: resolve(agenciesPath), adapters: adapterNames, vocabulary: vocabulary)
                agencies = directory
                let agenciesFile = resolve(agenciesPath)
                for agency in directory.agencies {
                    let setup = AdapterSetup(
                        options: agency.options, line: agency.optionsLine, column: agency.optionsColumn,
                        configDirectory: URL(fileURLWithPath: agenciesFile).deletingLastPathComponent(), agencyId: agency.id,
                        endpoint: agency.endpoint)
                    do {
                        adapters[agency.id] = try AdapterCatalogue.registry.make(agency.adapter, setup: setup)
                    } catch {
                        elsewhere += error.errors.map {
                            ConfigIssue(
                                file: agenciesFile, line: $0.line, column: $0.column,
                                message: "agency '\(agency.id)', adapter \(agency.adapter): \($0.message)", hint: $0.hint)
                        }
                    }
                }
                for agency in directory.agencies {
                    guard let name = agency.secretEnv else { continue }
                    if let secret = environment[name], !secret.isEmpty {
                        secrets[name] = secret
                    } else if requireSecrets {
                        elsewhere.append(
                            ConfigIssue(
                                file: resolve(agenciesPath), line: 1, column: 1,
                                message: "agency '\(agency.id)': environment variable \(name) is not set",
                                hint: "export \(name)=whsec_<base64 key>; `switchboard receiver --new-secret` makes one"))
                    }
                }
            } catch {
                elsewhere += error.issues
            }
        }
        if let path = reader.string(top?["rules"], "rules") { rulesPath = resolve(path) }
        if !rulesPath.isEmpty, let agencies {
            do {
                rules = try RuleSet.load(path: rulesPath, agencies: agencies, vocabulary: vocabulary)
            } catch {
                elsewhere += error.issues
            }
        }
        let issues = reader.issues + elsewhere
        guard issues.isEmpty, let storage, let agencies, let rules else { throw ConfigError(issues: issues) }
        return GatewayConfiguration(
            host: host, port: port, storage: storage, vocabulary: vocabulary, apiKeys: keys, agencies: agencies, rules: rules,
            agencySecrets: secrets, adapters: adapters, deliveryConcurrency: concurrency, leaseSeconds: leaseSeconds, rateLimit: rateLimit,
            rateBurst: rateBurst, path: path, rulesPath: rulesPath, rulesWatchSeconds: watchSeconds)
    }

    static func bytes(fromHex hex: String) -> [UInt8]? {
        let characters = Array(hex.lowercased().utf8)
        guard characters.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        for index in stride(from: 0, to: characters.count, by: 2) {
            guard let byte = UInt8(String(decoding: characters[index..<index + 2], as: UTF8.self), radix: 16) else { return nil }
            bytes.append(byte)
        }
        return bytes
    }
}

/// Finds the storage location alone, for commands that read the database without running the
/// gateway (and so without the keys and secrets `serve` needs).
public enum StorageConfiguration {
    public static func location(configPath: String, override: String?) throws(ConfigError) -> StorageLocation {
        let base = URL(fileURLWithPath: configPath).deletingLastPathComponent()
        if let override {
            guard let location = StorageLocation.parse(override, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
            else {
                throw ConfigError(issues: [
                    ConfigIssue(file: "--storage", line: 1, column: 1, message: "'\(override)' is not a storage URL", hint: "use sqlite:PATH")
                ])
            }
            return location
        }
        let reader = ConfigReader(file: configPath)
        guard let text = try? String(contentsOfFile: configPath, encoding: .utf8) else {
            throw ConfigError(issues: [
                ConfigIssue(file: configPath, line: 1, column: 1, message: "cannot read the configuration file", hint: "pass --config PATH or --storage URL")
            ])
        }
        let root = reader.compose(text)
        if case .mapping(let top)? = root, let storage = top["storage"], case .mapping(let entries) = storage,
            let url = entries["url"]?.string, let location = StorageLocation.parse(url, relativeTo: base)
        {
            return location
        }
        reader.fail(root, "no usable storage.url in this file", hint: "storage:\n      url: sqlite:PATH")
        throw ConfigError(issues: reader.issues)
    }
}
