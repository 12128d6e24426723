import Foundation
import SwitchboardTesting
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The `switchboard` executable SwiftPM built beside this test bundle.
let switchboardBinary: String = {
    let testBinary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    return testBinary.deletingLastPathComponent().appendingPathComponent("switchboard").path
}()

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

struct TimedOut: Error, CustomStringConvertible {
    var description: String
}

/// What a child process has written so far.
final class OutputBuffer: Sendable {
    let output = Mutex<[String]>([])
    let errors = Mutex<String>("")
}

/// A child process whose output is collected line by line.
final class RunningProcess: @unchecked Sendable {  // Process is not Sendable; it is only started, signalled and read.
    private let process: Process
    private let buffer = OutputBuffer()
    let name: String

    /// - Parameter executable: the program to run; the `switchboard` executable unless another is named.
    init(_ arguments: [String], environment: [String: String], name: String, executable: String = switchboardBinary) throws {
        self.name = name
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = environment
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        // Blocking reads on threads of their own rather than `readabilityHandler`: a dispatch source
        // whose pipe is closed while it is still registered crashes libdispatch's event loop on Linux.
        // Each thread holds its pipe until end of file, so nothing is closed under it.
        let buffer = self.buffer
        let output = stdout.fileHandleForReading
        let errors = stderr.fileHandleForReading
        Thread.detachNewThread {
            var partial = ""
            while true {
                let data = output.availableData
                if data.isEmpty { break }
                partial += String(decoding: data, as: UTF8.self)
                let pieces = partial.split(separator: "\n", omittingEmptySubsequences: false)
                partial = String(pieces.last ?? "")
                buffer.output.withLock { $0 += pieces.dropLast().map(String.init) }
            }
            if !partial.isEmpty { buffer.output.withLock { $0.append(partial) } }
        }
        Thread.detachNewThread {
            while true {
                let data = errors.availableData
                if data.isEmpty { break }
                buffer.errors.withLock { $0 += String(decoding: data, as: UTF8.self) }
            }
        }
        // One launch at a time, across every suite (ProcessLaunch says why).
        try ProcessLaunch.run(process)
    }

    var lines: [String] { buffer.output.withLock { $0 } }
    var standardError: String { buffer.errors.withLock { $0 } }
    var isRunning: Bool { process.isRunning }
    var pid: Int32 { process.processIdentifier }

    /// Waits for an output line that satisfies `predicate`.
    @discardableResult
    func waitForLine(timeout: Double = 20, _ what: String, where predicate: (String) -> Bool) async throws -> String {
        let deadline = ContinuousClock.now + .seconds(timeout)
        while ContinuousClock.now < deadline {
            if let line = lines.first(where: predicate) { return line }
            if !process.isRunning, lines.first(where: predicate) == nil {
                throw TimedOut(description: "\(name) exited before \(what); stderr: \(standardError)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TimedOut(description: "\(name): no \(what) within \(timeout) s; stderr: \(standardError.suffix(2000))")
    }

    func kill(_ signal: Int32) {
        if process.isRunning { Glibc.kill(process.processIdentifier, signal) }
    }

    /// Waits for the process to end and returns its exit status.
    func exitStatus(timeout: Double = 30) async throws -> Int32 {
        let deadline = ContinuousClock.now + .seconds(timeout)
        while process.isRunning {
            if ContinuousClock.now > deadline { throw TimedOut(description: "\(name) did not exit") }
            try await Task.sleep(for: .milliseconds(20))
        }
        // Let the pipes drain.
        try await Task.sleep(for: .milliseconds(100))
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
    }
}

/// A loopback port nothing is listening on right now.
func freePort() -> Int { LoopbackPort.free() }
