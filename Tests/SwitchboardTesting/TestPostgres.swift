import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A real PostgreSQL server for tests: `initdb` into a temporary directory and `pg_ctl` on a free
/// loopback port, run as the `postgres` user when the tests run as root (initdb refuses root).
/// A watchdog stops the server when the test process ends, however it ends.
///
/// `shared` serves every test that only needs a database of its own (`makeDatabase()`); a test that
/// stops and starts the server makes one of its own.
public final class TestPostgres: Sendable {
    public struct Unavailable: Error, CustomStringConvertible {
        public var description: String

        public init(description: String) { self.description = description }
    }

    public let directory: String
    public let port: Int
    public let user = "switchboard"
    private let binaries: String
    private let databases = Atomic<Int>(0)

    /// One server for the whole test process, started on first use.
    public static func shared() async throws -> TestPostgres { try await sharedServer.value }

    /// How long the tests' stores wait for a connection: the suite runs hundreds of tests at once
    /// on two cores, and a connection made in 2 s on a quiet machine was seen to take longer. The
    /// tests of an unreachable database still see 503s, only later.
    public static let connectTimeout: Duration = .seconds(10)

    private static let sharedServer = Task { try await offThread { try TestPostgres() } }

    /// A server of the test's own (to stop and start, or with TLS), started off the test's thread.
    public static func started(tls: Bool = false) async throws -> TestPostgres {
        try await offThread { try TestPostgres(tls: tls) }
    }

    /// Runs blocking work (initdb, pg_ctl, psql and waiting for them) on a thread of its own, so
    /// it never holds one of the few threads every other test's tasks run on.
    public static func offThread<Value: Sendable>(_ work: @escaping @Sendable () throws -> Value) async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try work() }) }
        }
    }

    /// With `tls`, the server offers TLS with a certificate for 127.0.0.1 signed by a CA of the
    /// test's own, `caFile`.
    public let tls: Bool
    public var caFile: String { "\(directory)/ca.pem" }

    init(tls: Bool = false) throws {
        self.tls = tls
        guard let binaries = Self.findBinaries() else {
            throw Unavailable(description: "PostgreSQL's initdb and pg_ctl are not installed (apt-get install postgresql)")
        }
        self.binaries = binaries
        directory = "/tmp/switchboard-pg-\(UUID().uuidString.prefix(8))"
        port = LoopbackPort.free()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if getuid() == 0 { try Self.run(["/bin/chown", "postgres:postgres", directory]) }
        try asServerUser(["\(binaries)/initdb", "-D", "\(directory)/data", "-U", user, "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C"])
        if tls { try makeCertificates() }
        try startNow()
        // Stops the server once this process is gone, even after a SIGKILL.
        // (pg_ctl starts the server as a daemon, so the parent-death signal cannot reach it.)
        _ = try ChildProcess(
            [
                "/bin/sh", "-c",
                "while kill -0 \(getpid()) 2>/dev/null; do sleep 1; done; \(serverUserPrefix)\(binaries)/pg_ctl -D \(directory)/data -m immediate stop; rm -rf \(directory)",
            ], directory: "/tmp", diesWithTests: false)
    }

    /// Starts the server again and waits until it takes connections.
    public func start() async throws { try await Self.offThread { try self.startNow() } }

    /// Stops the server at once, as a crash or an operator would: connections are cut.
    public func stop() async throws { try await Self.offThread { try self.stopNow() } }

    /// Stops the server without waiting (for a `defer`).
    public func stopLater() {
        _ = try? ChildProcess(
            (getuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--"] : []) + [
                "\(binaries)/pg_ctl", "-D", "\(directory)/data", "-m", "fast", "stop",
            ],
            directory: "/tmp", diesWithTests: false)
    }

    private func startNow() throws {
        var options =
            "-p \(port) -c listen_addresses=127.0.0.1 -k \(directory) -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        if tls { options += " -c ssl=on -c ssl_cert_file=\(directory)/data/server.pem -c ssl_key_file=\(directory)/data/server.key" }
        try asServerUser(["\(binaries)/pg_ctl", "-D", "\(directory)/data", "-o", options, "-l", "\(directory)/server.log", "-w", "-t", "60", "start"])
    }

    private func stopNow() throws {
        try asServerUser(["\(binaries)/pg_ctl", "-D", "\(directory)/data", "-m", "fast", "-w", "stop"])
    }

    /// A new, empty database on this server; its `postgres://` URL.
    public func makeDatabase(prefix: String = "t", owner: String? = nil) async throws -> (name: String, url: String) {
        let name = "\(prefix)_\(getpid())_\(databases.add(1, ordering: .relaxed).newValue)"
        try await runAsServerUser([
            "\(binaries)/psql", "-h", "127.0.0.1", "-p", "\(port)", "-U", user, "-d", "postgres", "-q", "-c",
            "CREATE DATABASE \(name)" + (owner.map { " OWNER \($0)" } ?? ""),
        ])
        return (name, "postgres://\(owner ?? user)@127.0.0.1:\(port)/\(name)")
    }

    /// A role that must sign in with `password` (SCRAM) over TCP, as a production server asks.
    public func addPasswordRole(_ name: String, password: String) async throws {
        try await psql("CREATE ROLE \(name) LOGIN PASSWORD '\(password)'", database: "postgres")
        let hba = "\(directory)/data/pg_hba.conf"
        try await runAsServerUser([
            "/bin/sh", "-c",
            "printf 'host all \(name) 127.0.0.1/32 scram-sha-256\\n' > \(hba).new && cat \(hba) >> \(hba).new && mv \(hba).new \(hba)",
        ])
        try await runAsServerUser(["\(binaries)/pg_ctl", "-D", "\(directory)/data", "reload"])
        try await Task.sleep(for: .milliseconds(500))
    }

    /// A CA, and a server certificate for 127.0.0.1 it signs, for the server's TLS.
    private func makeCertificates() throws {
        let data = "\(directory)/data"
        let script = """
            set -e
            cd \(directory)
            openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=switchboard-test-ca -keyout ca.key -out ca.pem 2>/dev/null
            openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key -out server.csr 2>/dev/null
            printf 'subjectAltName=IP:127.0.0.1' > san.ext
            openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext -out server.pem 2>/dev/null
            cp server.pem server.key \(data)/
            """
        try Self.run(["/bin/sh", "-c", script])
        if getuid() == 0 { try Self.run(["/bin/chown", "postgres:postgres", "\(data)/server.pem", "\(data)/server.key"]) }
        try Self.run(["/bin/chmod", "600", "\(data)/server.key"])
    }

    /// Runs SQL against `database` with psql; what it printed.
    @discardableResult
    public func psql(_ sql: String, database: String) async throws -> String {
        try await runAsServerUser(["\(binaries)/psql", "-h", "127.0.0.1", "-p", "\(port)", "-U", user, "-d", database, "-A", "-t", "-q", "-c", sql])
    }

    @discardableResult
    private func runAsServerUser(_ arguments: [String]) async throws -> String {
        try await Self.offThread { try self.asServerUser(arguments) }
    }

    private var serverUserPrefix: String { getuid() == 0 ? "/usr/sbin/runuser -u postgres -- " : "" }

    @discardableResult
    private func asServerUser(_ arguments: [String]) throws -> String {
        try Self.run(getuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--"] + arguments : arguments)
    }

    /// Runs a command to its end, from /tmp (the postgres user may not be able to read the tests'
    /// working directory); its output, or an error with it. A daemon it leaves behind (the server
    /// pg_ctl starts) holds none of the test process's descriptors, so it never keeps a test
    /// server's connection open.
    @discardableResult
    static func run(_ arguments: [String]) throws -> String {
        let (status, text) = try ChildProcess.run(arguments, directory: "/tmp")
        guard status == 0 else {
            throw Unavailable(description: "\(arguments.joined(separator: " ")) failed (\(status)): \(text)")
        }
        return text
    }

    private static func findBinaries() -> String? {
        let candidates =
            (ProcessInfo.processInfo.environment["SWITCHBOARD_PG_BIN"].map { [$0] } ?? [])
            + ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []).sorted {
                $0.compare($1, options: .numeric) == .orderedDescending
            }
            .map { "/usr/lib/postgresql/\($0)/bin" }
        return candidates.first { FileManager.default.isExecutableFile(atPath: "\($0)/initdb") }
    }
}

/// Loopback ports for tests.
public enum LoopbackPort {
    /// The ports this test process has handed out: a port is taken by the test it was given to
    /// only when its server starts, maybe seconds later, and suites run in parallel, so the same
    /// free port must not be given to two of them meanwhile.
    private static let handedOut = Mutex<Set<Int>>([])

    /// A loopback port nothing is listening on right now, and not handed out before by this process.
    /// Chosen below the kernel's ephemeral range (32768 and up on Linux), from which it gives ports
    /// to outgoing connections and to servers that bind port 0: a port from that range could be
    /// taken by one of those before the test's own server binds it.
    public static func free() -> Int {
        while true {
            let port = Int.random(in: 20_000..<32_768)
            guard bindable(port) else { continue }
            if handedOut.withLock({ $0.insert(port).inserted }) { return port }
        }
    }

    private static func bindable(_ port: Int) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let length = socklen_t(MemoryLayout<sockaddr_in>.size)
        return withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) } } == 0
    }
}
