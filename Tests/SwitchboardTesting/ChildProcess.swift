import CSpawn
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A program a test starts: a gateway, a receiver, openssl, psql. Started through `CSpawn` rather
/// than Foundation's `Process`, whose launch on Linux (Swift 6.3.1) over-reads `/proc/self/fd`
/// entries and crashes a test run at random.
///
/// The child holds no descriptor of the test process but the three it is given, leads a process
/// group of its own, and (unless `diesWithTests` is false) is killed when the test process ends,
/// however it ends, so a crashed run leaves no gateway holding a port.
public final class ChildProcess: Sendable {
    /// Where one of the child's standard streams goes.
    public enum Stream: Sendable {
        /// `/dev/null`.
        case null
        /// Appended to a file, created if missing.
        case file(String)
        /// A descriptor the caller owns; it stays open in the test process.
        case descriptor(Int32)
    }

    /// A pipe whose ends close on exec: a child holds an end only when given it as a standard stream.
    public struct Pipe: Sendable {
        public let read: Int32
        public let write: Int32

        public init() throws {
            var ends: [Int32] = [0, 0]
            guard switchboard_pipe(&ends) == 0 else { throw LaunchFailure(description: "no pipe: \(String(cString: strerror(errno)))") }
            (read, write) = (ends[0], ends[1])
        }
    }

    /// Why a program could not be started.
    public struct LaunchFailure: Error, CustomStringConvertible {
        public var description: String
    }

    public let pid: pid_t
    public let name: String
    /// False for a watchdog or a stop that must finish on its own: it is left running when this
    /// value goes, not killed (a discarded watchdog was killed at once, and test servers outlived
    /// every run).
    private let diesWithTests: Bool
    private let ended = Mutex<Int32?>(nil)

    /// Starts `arguments[0]` (a path, or a name looked up on `PATH`) with the rest as its arguments.
    /// - Parameters:
    ///   - environment: the child's whole environment; nil: the test process's own.
    ///   - directory: its working directory; nil: the test process's own.
    ///   - errors: nil sends standard error where standard output goes.
    ///   - diesWithTests: false only for a watchdog that must outlive the test process.
    public init(
        _ arguments: [String], environment: [String: String]? = nil, directory: String? = nil, input: Stream = .null, output: Stream = .null,
        errors: Stream? = nil, diesWithTests: Bool = true
    ) throws {
        guard let program = arguments.first else { throw LaunchFailure(description: "no program to start") }
        name = (program as NSString).lastPathComponent
        let path = try Self.resolve(program, environment: environment)
        var opened: [Int32] = []
        defer { for descriptor in opened { close(descriptor) } }
        func open(_ stream: Stream) throws -> Int32 {
            switch stream {
            case .null: return -1
            case .descriptor(let descriptor): return descriptor
            case .file(let file):
                let descriptor = Glibc.open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
                guard descriptor >= 0 else { throw LaunchFailure(description: "cannot open \(file): \(String(cString: strerror(errno)))") }
                opened.append(descriptor)
                return descriptor
            }
        }
        let input = try open(input)
        let output = try open(output)
        let errors = try errors.map(open) ?? output
        let environment = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer { for pointer in argv + envp { free(pointer) } }
        let child = switchboard_spawn(path, argv, envp, directory, input, output, errors, diesWithTests ? 1 : 0)
        guard child > 0 else {
            throw LaunchFailure(description: "cannot start \(program): \(String(cString: strerror(errno)))")
        }
        pid = child
        self.diesWithTests = diesWithTests
    }

    /// Runs a program to its end and returns its exit status and everything it wrote (standard
    /// output and error together, through a file, so no pipe can keep the read waiting).
    public static func run(_ arguments: [String], environment: [String: String]? = nil, directory: String? = nil) throws -> (
        status: Int32, output: String
    ) {
        let log = "/tmp/switchboard-run-\(UUID().uuidString).log"
        defer { unlink(log) }
        let child = try ChildProcess(arguments, environment: environment, directory: directory, output: .file(log))
        let status = child.waitUntilExit()
        return (status, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }

    /// Runs a program to its end and returns what it wrote; an error with that output if it failed.
    @discardableResult
    public static func check(_ arguments: [String], environment: [String: String]? = nil, directory: String? = nil) throws -> String {
        let (status, output) = try run(arguments, environment: environment, directory: directory)
        guard status == 0 else {
            throw LaunchFailure(description: "\(arguments.joined(separator: " ")) failed (exit \(status)): \(output)")
        }
        return output
    }

    /// Whether the child is still running (it is reaped the moment it is seen to have ended).
    public var isRunning: Bool { reap() == nil }

    /// Its exit status once ended: its code, or 128 and the signal that ended it, as a shell says.
    public var exitStatus: Int32? { reap() }

    /// Blocks the calling thread until the child ends. Not for a test's own task: use `exit(timeout:)`.
    @discardableResult
    public func waitUntilExit() -> Int32 {
        while true {
            if let status = reap() { return status }
            usleep(2_000)
        }
    }

    /// Waits, without holding a thread, for the child to end; its exit status.
    public func exit(timeout: Duration = .seconds(30)) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let status = reap() { return status }
            guard ContinuousClock.now < deadline else { throw LaunchFailure(description: "\(name) (pid \(pid)) did not exit within \(timeout)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Sends `signal` to the child while it runs.
    public func signal(_ signal: Int32) {
        ended.withLock { status in
            if status == nil { _ = kill(pid, signal) }
        }
    }

    /// The exit status if the child has ended, reaping it then; never waits. Under the lock, so a
    /// signal is never sent to a pid that was reaped and reused.
    private func reap() -> Int32? {
        ended.withLock { ended in
            if let ended { return ended }
            var status: Int32 = 0
            while true {
                let result = waitpid(pid, &status, WNOHANG)
                if result == pid { break }
                if result == 0 { return nil }
                if errno == ECHILD {
                    // Reaped by someone else: ended, with no status to tell.
                    ended = -1
                    return -1
                }
            }
            // Exited normally: its code; killed by a signal: 128 and the signal.
            let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
            ended = code
            return code
        }
    }

    deinit {
        if diesWithTests, reap() == nil {
            kill(pid, SIGKILL)
            waitUntilExit()
        }
    }

    private static func resolve(_ program: String, environment: [String: String]?) throws -> String {
        if program.contains("/") { return program }
        let path = (environment ?? ProcessInfo.processInfo.environment)["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for folder in path.split(separator: ":") where access("\(folder)/\(program)", X_OK) == 0 {
            return "\(folder)/\(program)"
        }
        throw LaunchFailure(description: "cannot start \(program): it is not installed (not found on PATH \(path))")
    }
}
