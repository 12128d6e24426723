import Crypto
import Foundation
import ReferralModel
import Yams

/// The agencies of `config/agencies.yaml`, validated in full.
public struct AgencyDirectory: Sendable, Equatable {
    public let agencies: [Agency]
    /// The text the agencies were read from, comments and all: what `GET /v1/agencies` returns
    /// and what a change is compared with.
    public let text: String

    public init(agencies: [Agency], text: String = "") {
        self.agencies = agencies
        self.text = text
    }

    /// A digest of the text: the same file always carries the same version, which `If-Match` names.
    public var version: String { DocumentVersion.of(text) }

    public subscript(id: AgencyID) -> Agency? { agencies.first { $0.id == id } }

    /// Loads and validates the file at `path`.
    /// - Parameter adapters: the adapter names this build has; any other is an error.
    public static func load(
        path: String, adapters: Set<String>, vocabulary: NeedsVocabulary = .standard
    ) throws(ConfigError) -> AgencyDirectory {
        let reader = ConfigReader(file: path)
        guard let text = readFile(path, reader: reader) else { throw ConfigError(issues: reader.issues) }
        return try parse(text, file: path, adapters: adapters, vocabulary: vocabulary)
    }

    public static func parse(
        _ text: String, file: String, adapters: Set<String>, vocabulary: NeedsVocabulary = .standard
    ) throws(ConfigError) -> AgencyDirectory {
        let reader = ConfigReader(file: file)
        let root = reader.compose(text)
        let top = reader.mapping(root, "the agencies file", allowed: ["agencies"], required: ["agencies"])
        var agencies: [Agency] = []
        var seen: [String: Node] = [:]
        var coverNodes: [String: Node] = [:]
        for node in reader.sequence(top?["agencies"], "agencies") ?? [] {
            guard
                let entry = reader.mapping(
                    node, "an agency",
                    allowed: [
                        "id", "name", "adapter", "endpoint", "secret_env", "previous_secret_env", "retry", "timeouts", "options", "withhold",
                        "services",
                        "coverage", "safeguarding", "receives", "all_needs", "concurrency", "circuit_breaker", "auth", "tls", "acknowledge",
                        "hours", "out_of_hours", "vital_interests", "ages", "allow_plain_http", "allow_link_local", "capacity",
                    ],
                    required: ["id", "name", "adapter"])
            else { continue }
            let id = reader.string(entry["id"], "id")
            if let id, let idNode = entry["id"] {
                if !isIdentifier(id) {
                    reader.fail(idNode, "agency id '\(id)' must be lower-case letters, digits and hyphens", hint: "for example oxfordshire-spa")
                }
                if seen[id] != nil { reader.fail(idNode, "agency id '\(id)' is used twice", hint: "each agency needs its own id") }
                if ["versions", "proposals", "rollback"].contains(id) {
                    reader.fail(idNode, "agency id '\(id)' is a word the agencies API uses for itself", hint: "choose another, such as \(id)-team")
                }
                seen[id] = idNode
            }
            let name = reader.string(entry["name"], "name")
            let adapter = reader.string(entry["adapter"], "adapter")
            if let adapter, !adapters.contains(adapter) {
                reader.fail(
                    entry["adapter"], "unknown adapter '\(adapter)'",
                    hint: "this build has: \(adapters.sorted().joined(separator: ", "))")
            }
            // An agency on the `portal` adapter has no system of its own: its referrals wait in its
            // web inbox at the console, so it has no endpoint. Every other agency needs one.
            let inbox = adapter == Agency.inboxAdapter
            var endpoint = reader.string(entry["endpoint"], "endpoint")
            if inbox, let node = entry["endpoint"] {
                reader.fail(
                    node, "an agency on the portal adapter has no endpoint: its referrals wait in its web inbox at the console",
                    hint: "remove endpoint, or choose the adapter its system takes (switchboard adapters lists them)")
            } else if !inbox, entry["endpoint"] == nil {
                reader.fail(
                    node, "an agency is missing 'endpoint'",
                    hint:
                        "where its requests go, such as https://spa.example.gov.uk/referrals; or adapter: portal for an agency without a system of its own"
                )
            }
            if inbox { endpoint = endpoint ?? "" }
            if !inbox, let endpoint, !(endpoint.hasPrefix("http://") || endpoint.hasPrefix("https://")) || URL(string: endpoint)?.host == nil {
                reader.fail(
                    entry["endpoint"], "endpoint '\(endpoint)' is not an http or https URL", hint: "for example https://spa.example.gov.uk/referrals")
            }
            let allowPlainHTTP = entry["allow_plain_http"].flatMap { reader.bool($0, "allow_plain_http") } ?? false
            let allowLinkLocal = entry["allow_link_local"].flatMap { reader.bool($0, "allow_link_local") } ?? false
            if !inbox, let endpoint {
                Self.checkDestination(endpoint, node: entry["endpoint"], plainHTTP: allowPlainHTTP, linkLocal: allowLinkLocal, reader: reader)
            }
            let secretEnv = reader.string(entry["secret_env"], "secret_env")
            if let secretEnv, !isEnvironmentName(secretEnv) {
                reader.fail(
                    entry["secret_env"], "secret_env must name an environment variable, such as SPA_WEBHOOK_SECRET",
                    hint: "never write the secret itself in this file")
            }
            let previousSecretEnv = reader.string(entry["previous_secret_env"], "previous_secret_env")
            if let previousSecretEnv, !isEnvironmentName(previousSecretEnv) {
                reader.fail(
                    entry["previous_secret_env"], "previous_secret_env must name an environment variable, such as SPA_WEBHOOK_SECRET_OLD",
                    hint: "never write the secret itself in this file")
            }
            if previousSecretEnv != nil, secretEnv == nil {
                reader.fail(
                    entry["previous_secret_env"], "previous_secret_env is for rotating a secret, and this agency has no secret_env",
                    hint: "set secret_env to the new secret's variable and previous_secret_env to the old one's")
            }
            var retry = Agency.Retry()
            if let retryEntry = reader.mapping(
                entry["retry"], "retry", allowed: ["max_attempts", "initial_backoff_seconds", "max_backoff_seconds", "urgent", "emergency"])
            {
                retry.urgent = Self.retrySchedule(retryEntry["urgent"], "urgent", default: retry.urgent, reader: reader)
                retry.emergency = Self.retrySchedule(retryEntry["emergency"], "emergency", default: retry.emergency, reader: reader)
                retry.maxAttempts = reader.integer(retryEntry["max_attempts"], "max_attempts", range: 1...1000) ?? retry.maxAttempts
                retry.initialBackoff =
                    reader.number(retryEntry["initial_backoff_seconds"], "initial_backoff_seconds", range: 0.01...86_400) ?? retry.initialBackoff
                retry.maxBackoff =
                    reader.number(retryEntry["max_backoff_seconds"], "max_backoff_seconds", range: 0.01...604_800) ?? retry.maxBackoff
                if retry.maxBackoff < retry.initialBackoff {
                    reader.fail(entry["retry"], "max_backoff_seconds is smaller than initial_backoff_seconds")
                }
            }
            var connectTimeout = 5.0
            var requestTimeout = 30.0
            if let timeouts = reader.mapping(entry["timeouts"], "timeouts", allowed: ["connect_seconds", "total_seconds"]) {
                connectTimeout = reader.number(timeouts["connect_seconds"], "connect_seconds", range: 0.1...300) ?? connectTimeout
                requestTimeout = reader.number(timeouts["total_seconds"], "total_seconds", range: 0.1...3_600) ?? requestTimeout
            }
            var options: [String: ConfigValue] = [:]
            var optionsMark = node.mark
            if let optionsNode = entry["options"] {
                optionsMark = optionsNode.mark
                if case .map(let values)? = configValue(optionsNode, reader: reader)?.kind {
                    options = values
                } else {
                    reader.fail(
                        optionsNode, "options must be a mapping of option names to values",
                        hint: "`switchboard adapters` lists each adapter's options")
                }
            }
            var withhold = Self.receives(entry["receives"], reader: reader)
            withhold.formUnion(Self.withheld(entry["withhold"], reader: reader))
            let allNeeds = entry["all_needs"].flatMap { reader.bool($0, "all_needs") } ?? false
            let services = reader.strings(entry["services"], "services") ?? []
            for service in services where !vocabulary.codes.contains(service) {
                reader.fail(
                    entry["services"], "unknown service '\(service)'", hint: "services are need codes: \(vocabulary.codes.joined(separator: ", "))")
            }
            let coverage = (reader.strings(entry["coverage"], "coverage") ?? []).map { $0.uppercased() }
            for area in coverage where !Postcode.isPrefix(area) && OrganisationType.localAuthority.problem(with: area) != nil {
                reader.fail(
                    entry["coverage"], "'\(area)' is neither a postcode area, district, sector or full postcode nor a local authority's GSS code",
                    hint: "for example OX, OX1, OX1 2, or E07000178 for Oxford")
            }
            if !services.isEmpty, coverage.isEmpty {
                reader.fail(
                    entry["services"], "an agency that offers services needs a coverage",
                    hint: "list the postcode areas, districts or sectors it serves")
            }
            let safeguarding = entry["safeguarding"].flatMap { reader.bool($0, "safeguarding") } ?? false
            let concurrency = entry["concurrency"].flatMap { reader.integer($0, "concurrency", range: 1...1024) } ?? 8
            let breaker = Self.circuitBreaker(entry["circuit_breaker"], reader: reader)
            let authorization = Self.authorization(entry["auth"], file: file, reader: reader)
            let tls = Self.tls(entry["tls"], endpoint: endpoint, file: file, reader: reader)
            let acknowledgement = Self.acknowledgement(entry["acknowledge"], reader: reader)
            if let id, let name, let adapter, let endpoint {
                var agency =
                    Agency(
                        id: AgencyID(id), name: name, adapter: adapter, endpoint: endpoint, secretEnv: secretEnv, retry: retry,
                        connectTimeout: connectTimeout, requestTimeout: requestTimeout, options: options,
                        optionsLine: optionsMark?.line ?? 1, optionsColumn: optionsMark?.column ?? 1, withhold: withhold,
                        services: services, coverage: coverage, safeguardingRecipient: safeguarding,
                        receivesAllNeeds: allNeeds, concurrency: concurrency, circuitBreaker: breaker,
                        authorization: authorization, tls: tls)
                agency.acknowledgement = acknowledgement
                agency.previousSecretEnv = previousSecretEnv
                agency.hours = Self.openingHours(entry["hours"], reader: reader)
                agency.outOfHours = reader.string(entry["out_of_hours"], "out_of_hours").map(AgencyID.init)
                agency.vitalInterests = entry["vital_interests"].flatMap { reader.bool($0, "vital_interests") } ?? false
                if let capacity = reader.mapping(entry["capacity"], "capacity", allowed: ["per_day"], required: ["per_day"]) {
                    agency.capacityPerDay = reader.integer(capacity["per_day"], "per_day", range: 1...1_000_000)
                }
                agency.ages = Self.ages(entry["ages"], reader: reader)
                agency.allowPlainHTTP = allowPlainHTTP
                agency.allowLinkLocal = allowLinkLocal
                if agency.outOfHours != nil { coverNodes[id] = entry["out_of_hours"] }
                agencies.append(agency)
            }
        }
        checkCover(agencies, nodes: coverNodes, reader: reader)
        if top?["agencies"] != nil, agencies.isEmpty, reader.issues.isEmpty {
            reader.fail(top?["agencies"], "no agencies are defined", hint: "a gateway with no agencies can route nothing")
        }
        guard reader.issues.isEmpty else { throw ConfigError(issues: reader.issues) }
        return AgencyDirectory(agencies: agencies, text: text)
    }

    /// The fields outside `receives`: a preset name or a list of fields; all fields when absent.
    /// `circuit_breaker: {failures, cool_down_seconds, max_cool_down_seconds, disable_after_days}`.
    static func circuitBreaker(_ node: Node?, reader: ConfigReader) -> Agency.CircuitBreaker {
        var breaker = Agency.CircuitBreaker()
        guard
            let entries = reader.mapping(
                node, "circuit_breaker",
                allowed: ["failures", "cool_down_seconds", "max_cool_down_seconds", "disable_after_days", "failure_rate_percent", "window"])
        else { return breaker }
        breaker.failures = reader.integer(entries["failures"], "failures", range: 1...1000) ?? breaker.failures
        breaker.coolDown = reader.number(entries["cool_down_seconds"], "cool_down_seconds", range: 1...86_400) ?? breaker.coolDown
        breaker.maximumCoolDown =
            reader.number(entries["max_cool_down_seconds"], "max_cool_down_seconds", range: 1...86_400)
            ?? max(breaker.maximumCoolDown, breaker.coolDown)
        breaker.disableAfterDays = reader.number(entries["disable_after_days"], "disable_after_days", range: 0.01...365) ?? breaker.disableAfterDays
        breaker.failureRatePercent =
            reader.number(entries["failure_rate_percent"], "failure_rate_percent", range: 1...100) ?? breaker.failureRatePercent
        breaker.window = reader.integer(entries["window"], "window", range: 2...1000) ?? breaker.window
        if breaker.maximumCoolDown < breaker.coolDown {
            reader.fail(node, "max_cool_down_seconds is smaller than cool_down_seconds")
        }
        return breaker
    }

    static func receives(_ node: Node?, reader: ConfigReader) -> Set<ReferralField> {
        guard let node else { return [] }
        let everything = Set(ReferralField.allCases)
        if case .scalar = node, let name = reader.string(node, "receives") {
            guard let preset = FieldAllowList.presets[name] else {
                reader.fail(
                    node, "'\(name)' is not a preset of receives",
                    hint: "use one of \(FieldAllowList.presetNames.joined(separator: ", ")), or list the fields")
                return []
            }
            return everything.subtracting(preset).subtracting(ReferralField.essential)
        }
        var allowed: Set<ReferralField> = []
        for (path, item) in zip(reader.strings(node, "receives") ?? [], listItems(node)) {
            guard let field = ReferralField(rawValue: path.hasPrefix("/") ? path : "/" + path) else {
                reader.fail(item, "'\(path)' is not a referral field", hint: "for example subject/phone, reason, subject/nhsNumber")
                continue
            }
            allowed.insert(field)
        }
        return everything.subtracting(allowed).subtracting(ReferralField.essential)
    }

    /// The fields listed under `withhold`.
    static func withheld(_ node: Node?, reader: ConfigReader) -> Set<ReferralField> {
        var withhold: Set<ReferralField> = []
        for (path, item) in zip(reader.strings(node, "withhold") ?? [], listItems(node)) {
            let pointer = path.hasPrefix("/") ? path : "/" + path
            guard let field = ReferralField(rawValue: pointer) else {
                reader.fail(
                    item, "'\(path)' is not a referral field that can be withheld", hint: "for example subject/nhsNumber, reason, subject/address")
                continue
            }
            if ReferralField.essential.contains(field) {
                reader.fail(
                    item, "'\(path)' cannot be withheld: every delivery needs it",
                    hint: "essential fields identify the person, the need, the urgency and the consent")
                continue
            }
            withhold.insert(field)
        }
        return withhold
    }
}

public func isIdentifier(_ text: String) -> Bool {
    !text.isEmpty && text.utf8.count <= 64
        && text.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == UInt8(ascii: "-") }
}

public func isEnvironmentName(_ text: String) -> Bool {
    guard let first = text.utf8.first, !(first >= 0x30 && first <= 0x39) else { return false }
    return text.utf8.allSatisfy { ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == UInt8(ascii: "_") }
}

public func listItems(_ node: Node?) -> [Node] {
    guard let node else { return [] }
    if case .sequence(let sequence) = node { return Array(sequence) }
    return [node]
}

/// Converts a YAML node into a located configuration value for a plugin to check.
func configValue(_ node: Node, reader: ConfigReader) -> ConfigValue? {
    let line = node.mark?.line ?? 1
    let column = node.mark?.column ?? 1
    switch node {
    case .scalar(let scalar):
        if scalar.style == .plain {
            if let flag = node.bool { return ConfigValue(.flag(flag), line: line, column: column) }
            if let number = node.float, scalar.string.first.map({ $0.isNumber || $0 == "-" }) == true {
                return ConfigValue(.number(number), line: line, column: column)
            }
        }
        return ConfigValue(.text(scalar.string), line: line, column: column)
    case .sequence(let sequence):
        return ConfigValue(.list(sequence.compactMap { configValue($0, reader: reader) }), line: line, column: column)
    case .mapping(let mapping):
        var values: [String: ConfigValue] = [:]
        for (key, value) in mapping {
            guard let name = key.string else {
                reader.fail(key, "option names must be plain words")
                continue
            }
            values[name] = configValue(value, reader: reader)
        }
        return ConfigValue(.map(values), line: line, column: column)
    case .alias:
        reader.fail(node, "YAML aliases are not supported in options")
        return nil
    }
}

/// The version a configuration text carries: `sha256:` and the first 12 hex digits of its SHA-256.
public enum DocumentVersion {
    public static func of(_ text: String) -> String {
        "sha256:" + Hex.encode(SHA256.hash(data: Data(text.utf8)).prefix(6))
    }
}
