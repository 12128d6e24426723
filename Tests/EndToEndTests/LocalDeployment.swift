import Foundation
import Transport

/// A whole deployment on this machine: a configuration in a temporary folder with the example
/// agencies and rules, agency receivers on free ports, and the gateway itself, all as real
/// processes speaking real HTTP.
final class LocalDeployment: @unchecked Sendable {  // Used by one test at a time; processes are Sendable.
    static let agencies = [
        "oxfordshire-spa", "oxford-falls", "oxfordshire-mash", "oxford-mh-crisis", "oxfordshire-befriending", "oxfordshire-children",
    ]
    static let secretNames = [
        "oxfordshire-spa": "OXFORDSHIRE_SPA_SECRET", "oxford-falls": "OXFORD_FALLS_SECRET",
        "oxfordshire-mash": "OXFORDSHIRE_MASH_SECRET", "oxford-mh-crisis": "OXFORD_MH_CRISIS_SECRET",
        "oxfordshire-befriending": "OXFORDSHIRE_BEFRIENDING_SECRET", "oxfordshire-children": "OXFORDSHIRE_CHILDREN_SECRET",
    ]
    let referrerKey = "e2e-referrer-key-0123456789"
    let adminKey = "e2e-admin-key-0123456789ab"
    let governanceKey = "e2e-governance-key-0123456"
    /// Agency keys, by the agency each answers for.
    let agencyKeys = ["oxfordshire-spa": "e2e-spa-key-0123456789abc", "oxfordshire-befriending": "e2e-befriending-key-0123456"]
    /// The audit checkpoint key (the gateway anchors its chain every second here).
    let auditKey = "e2e-audit-key-0123456789abcdef0123456789"
    var checkpointsPath: String { directory.appendingPathComponent("audit-checkpoints.log").path }
    /// Where the referrer's callback is sent, when it has one.
    let callbackPort: Int
    let directory: URL
    let ports: [String: Int]
    var environment: [String: String]
    var gateway: RunningProcess?
    var gatewayURL = ""
    var receivers: [String: RunningProcess] = [:]
    let client = CurlTransport.started()

    var databasePath: String { directory.appendingPathComponent("switchboard.sqlite").path }
    var rulesPath: String { directory.appendingPathComponent("rules.yaml").path }
    var configPath: String { directory.appendingPathComponent("switchboard.yaml").path }

    /// - Parameter exampleAgencies: use config/agencies.yaml itself (its adapters, templates and
    ///   withheld fields) with the endpoints moved to this deployment's ports, instead of plain
    ///   json-webhook agencies with quick retries.
    /// - Parameter watchSeconds: how often the gateway checks its rules file; 0 leaves it to SIGHUP.
    /// - Parameter referrerCallback: give the referrer key a callback, to `callbackPort`.
    /// - Parameter server: extra settings for the `server` section (timeouts, shutdown).
    /// - Parameter rotating: oxford-falls's signing secret is being rotated: `OXFORD_FALLS_SECRET` is
    ///   the new one and `OXFORD_FALLS_SECRET_OLD` the one being retired.
    /// - Parameter storage: the storage URL (a `postgres://` one for several gateways), instead of a SQLite file.
    /// - Parameter encrypted: personal data is encrypted at rest, with the key in `E2E_STORAGE_KEY`.
    /// - Parameter transparency: the audit log is a transparency log signed with `audit-signing.key`
    ///   (which the test writes with `audit signing-key new` before starting the gateway).
    init(
        maxAttempts: Int = 50, exampleAgencies: Bool = false, watchSeconds: Double = 2, referrerCallback: Bool = false, server: String = "",
        rotating: Bool = false, storage: String? = nil, encrypted: Bool = false, transparency: Bool = false
    ) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var ports: [String: Int] = [:]
        for agency in Self.agencies { ports[agency] = freePort() }
        self.ports = ports
        var environment = ProcessInfo.processInfo.environment
        environment["E2E_REFERRER_KEY"] = referrerKey
        environment["E2E_ADMIN_KEY"] = adminKey
        environment["E2E_GOVERNANCE_KEY"] = governanceKey
        environment["E2E_SPA_KEY"] = agencyKeys["oxfordshire-spa"]
        environment["E2E_BEFRIENDING_KEY"] = agencyKeys["oxfordshire-befriending"]
        environment["E2E_AUDIT_KEY"] = auditKey
        environment["E2E_STORAGE_KEY"] = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        environment["E2E_CALLBACK_SECRET"] = "whsec_" + Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        let callbackPort = freePort()
        self.callbackPort = callbackPort
        for name in Self.secretNames.values + ["OXFORD_FALLS_SECRET_OLD"] {
            environment[name] = "whsec_" + Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        }
        self.environment = environment

        // Quick retries whatever the urgency: the tests wait for dead letters in seconds, not minutes.
        let retry = "max_attempts: \(maxAttempts), initial_backoff_seconds: 0.2, max_backoff_seconds: 1"
        let agencies = Self.agencies.map { agency in
            """
              - id: \(agency)
                name: \(agency) receiver
                adapter: json-webhook
                endpoint: http://127.0.0.1:\(ports[agency]!)/referrals
                secret_env: \(Self.secretNames[agency]!)\(rotating && agency == "oxford-falls" ? "\n    previous_secret_env: OXFORD_FALLS_SECRET_OLD" : "")
                retry: { \(retry), urgent: { \(retry) }, emergency: { \(retry) } }
                timeouts: { connect_seconds: 2, total_seconds: 5 }
            \(agency == "oxfordshire-befriending" ? "    withhold: [subject/nhsNumber, reason]" : "")
            \(agency == "oxfordshire-mash" || agency == "oxfordshire-children" ? "    safeguarding: true" : "")
            """
        }.joined(separator: "\n")
        if exampleAgencies {
            var text = try String(contentsOf: repositoryRoot.appendingPathComponent("config/agencies.yaml"), encoding: .utf8)
            for (index, agency) in Self.agencies.enumerated() {
                text = text.replacingOccurrences(of: "http://127.0.0.1:\(9101 + index)/", with: "http://127.0.0.1:\(ports[agency]!)/")
            }
            try text.write(to: directory.appendingPathComponent("agencies.yaml"), atomically: true, encoding: .utf8)
            try FileManager.default.copyItem(
                at: repositoryRoot.appendingPathComponent("config/templates"), to: directory.appendingPathComponent("templates"))
        } else {
            try "agencies:\n\(agencies)\n".write(to: directory.appendingPathComponent("agencies.yaml"), atomically: true, encoding: .utf8)
        }
        try FileManager.default.copyItem(
            at: repositoryRoot.appendingPathComponent("config/rules.yaml"), to: directory.appendingPathComponent("rules.yaml"))
        try """
        server: { host: 127.0.0.1, port: 0\(server.isEmpty ? "" : ", " + server) }
        storage: { url: "\(storage ?? "sqlite:switchboard.sqlite")"\(encrypted ? ", encryption: { key_env: E2E_STORAGE_KEY }" : "")\(storage == nil ? "" : ", connect_timeout_seconds: 5") }
        agencies: agencies.yaml
        rules: rules.yaml
        api_keys:
          - { id: e2e-gp, role: referrer, key_env: E2E_REFERRER_KEY\(referrerCallback ? ", callback: { url: 'http://127.0.0.1:\(callbackPort)/callbacks', secret_env: E2E_CALLBACK_SECRET }" : "") }
          - { id: e2e-admin, role: admin, key_env: E2E_ADMIN_KEY }
          - { id: e2e-governance, role: governance, key_env: E2E_GOVERNANCE_KEY }
          - { id: e2e-spa, role: agency, key_env: E2E_SPA_KEY, agency: oxfordshire-spa }
          - { id: e2e-befriending, role: agency, key_env: E2E_BEFRIENDING_KEY, agency: oxfordshire-befriending }
        delivery: { concurrency: 8, lease_seconds: 5 }
        audit: { checkpoint_file: audit-checkpoints.log, key_env: E2E_AUDIT_KEY, checkpoint_seconds: 1\(transparency ? ", signing_key_file: audit-signing.key" : "") }
        rules_reload: { watch_seconds: \(watchSeconds) }
        """.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    /// Starts the gateway on a free port and waits until it listens.
    func startGateway(logLevel: String = "warning") async throws {
        (gateway, gatewayURL) = try await launchGateway(logLevel: logLevel)
    }

    /// Starts one more gateway process on this configuration (several share a PostgreSQL store);
    /// the caller owns it.
    func launchGateway(logLevel: String = "warning", name: String = "gateway") async throws -> (process: RunningProcess, url: String) {
        let process = try RunningProcess(["serve", "--config", configPath, "--log-level", logLevel], environment: environment, name: name)
        let line = try await process.waitForLine("listening line") { $0.hasPrefix("Switchboard listening on ") }
        return (process, String(line.dropFirst("Switchboard listening on ".count).prefix { $0 != " " }))
    }

    /// - Parameters:
    ///   - port: where it listens, instead of the agency's configured port.
    ///   - name: what `deliveries(to:)` calls it, instead of the agency's id.
    func startReceiver(
        _ agency: String, status: Int = 202, delayMilliseconds: Int = 0, port: Int? = nil, as name: String? = nil, secretEnv: String? = nil
    ) async throws {
        let process = try RunningProcess(
            [
                "receiver", "--port", String(port ?? ports[agency]!), "--secret-env", secretEnv ?? Self.secretNames[agency]!, "--json", "--status",
                String(status),
                "--delay-ms", String(delayMilliseconds),
            ],
            environment: environment, name: "receiver \(agency)")
        // The receiver says where it listens on standard error once it is up.
        let deadline = ContinuousClock.now + .seconds(20)
        while !process.standardError.contains("Receiver listening") {
            guard ContinuousClock.now < deadline, process.isRunning else {
                throw TimedOut(description: "receiver \(agency) did not start: \(process.standardError)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        receivers[name ?? agency] = process
    }

    func startAllReceivers() async throws {
        for agency in Self.agencies { try await startReceiver(agency) }
    }

    /// Runs a CLI command to completion.
    func run(_ arguments: [String], extraEnvironment: [String: String] = [:]) async throws -> (status: Int32, output: String, errors: String) {
        let process = try RunningProcess(arguments, environment: environment.merging(extraEnvironment) { $1 }, name: arguments.first ?? "switchboard")
        let status = try await process.exitStatus()
        return (status, process.lines.joined(separator: "\n"), process.standardError)
    }

    /// Runs another program (a reader independent of Switchboard) and returns what it printed.
    func runTool(_ executable: String, _ arguments: [String]) async throws -> String {
        let process = try RunningProcess(arguments, environment: environment, name: arguments.first ?? executable, executable: executable)
        let status = try await process.exitStatus()
        guard status == 0 else { throw TimedOut(description: "\(arguments.first ?? executable) failed: \(process.standardError)") }
        return process.lines.joined(separator: "\n")
    }

    /// Runs another program and returns its exit status and what it printed, whatever the status.
    func runToolStatus(_ executable: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        let process = try RunningProcess(arguments, environment: environment, name: arguments.first ?? executable, executable: executable)
        let status = try await process.exitStatus()
        return (status, (process.lines + [process.standardError]).joined(separator: "\n"))
    }

    /// Calls the gateway with `key` and returns the status and the body as text.
    func fetch(_ path: String, key: String) async throws -> (status: Int, body: String) {
        let response = try await client.send(HTTPRequest(url: gatewayURL + path, headers: [("Authorization", "Bearer \(key)")]))
        return (response.status, String(decoding: response.body, as: UTF8.self))
    }

    /// Submits a referral over HTTP and returns the status and body.
    func submit(_ body: Data, key: String? = nil, to url: String? = nil) async throws -> (status: Int, body: [String: Any]) {
        let response = try await client.send(
            HTTPRequest(
                url: (url ?? gatewayURL) + "/v1/referrals", method: "POST",
                headers: [("Authorization", "Bearer \(key ?? referrerKey)"), ("Content-Type", "application/json")], body: Array(body)))
        return (response.status, (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:])
    }

    /// Calls the gateway with `key`.
    func call(_ path: String, key: String, method: String = "GET", json: String? = nil, at url: String? = nil) async throws -> (
        status: Int, body: [String: Any]
    ) {
        let response = try await client.send(
            HTTPRequest(
                url: (url ?? gatewayURL) + path, method: method,
                headers: [("Authorization", "Bearer \(key)")] + (json != nil ? [("Content-Type", "application/json")] : []),
                body: Array((json ?? "").utf8)))
        return (response.status, (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:])
    }

    /// Calls the gateway with the admin key.
    func admin(_ path: String, method: String = "GET", headers: [(String, String)] = [], body: [UInt8] = []) async throws -> (
        status: Int, body: [String: Any]
    ) {
        let response = try await client.send(
            HTTPRequest(url: gatewayURL + path, method: method, headers: [("Authorization", "Bearer \(adminKey)")] + headers, body: body))
        return (response.status, (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:])
    }

    func report(_ id: String, at url: String? = nil) async throws -> [String: Any] {
        let response = try await client.send(
            HTTPRequest(url: (url ?? gatewayURL) + "/v1/referrals/\(id)", headers: [("Authorization", "Bearer \(adminKey)")]))
        return (try JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
    }

    /// Polls the referral until `predicate` holds for its report.
    @discardableResult
    func waitForReport(_ id: String, timeout: Double = 30, _ what: String, at url: String? = nil, until predicate: ([String: Any]) -> Bool)
        async throws -> [String: Any]
    {
        let deadline = ContinuousClock.now + .seconds(timeout)
        var last: [String: Any] = [:]
        while ContinuousClock.now < deadline {
            last = try await report(id, at: url)
            if predicate(last) { return last }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TimedOut(description: "referral \(id): not \(what) within \(timeout) s; last report: \(last)")
    }

    /// The deliveries a receiver printed, as parsed JSON lines.
    func deliveries(to agency: String) -> [[String: Any]] {
        (receivers[agency]?.lines ?? []).compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
    }

    func stopAll() {
        gateway?.kill(SIGKILL)
        for receiver in receivers.values { receiver.kill(SIGKILL) }
        client.shutdown()
    }

    deinit {
        stopAll()
        try? FileManager.default.removeItem(at: directory)
    }
}

/// A referral for the council's front door alone: housing support for someone in Oxford.
func councilReferral() throws -> Data {
    let text = String(decoding: try example("referral-carer-out-of-area"), as: UTF8.self)
        .replacingOccurrences(of: "RG1 1AA", with: "OX1 1AA")
        .replacingOccurrences(of: #""needs": ["carers-support", "befriending"]"#, with: #""needs": ["housing-support"]"#)
    return Data(text.utf8)
}

func example(_ name: String) throws -> Data {
    try Data(contentsOf: repositoryRoot.appendingPathComponent("config/examples/\(name).json"))
}

func deliveryStates(_ report: [String: Any]) -> [String: String] {
    var states: [String: String] = [:]
    for delivery in report["deliveries"] as? [[String: Any]] ?? [] {
        states[delivery["agency"] as? String ?? ""] = delivery["state"] as? String
    }
    return states
}
