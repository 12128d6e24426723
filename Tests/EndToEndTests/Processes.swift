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
final class RunningProcess: Sendable {
    private let process: ChildProcess
    private let buffer = OutputBuffer()
    let name: String

    /// - Parameter executable: the program to run; the `switchboard` executable unless another is named.
    init(_ arguments: [String], environment: [String: String], name: String, executable: String = switchboardBinary) throws {
        self.name = name
        let output = try ChildProcess.Pipe()
        let errors = try ChildProcess.Pipe()
        defer {
            // The child has its own copies of the write ends; the test's go, so a read ends at the child's exit.
            close(output.write)
            close(errors.write)
        }
        do {
            process = try ChildProcess(
                [executable] + arguments, environment: environment, output: .descriptor(output.write), errors: .descriptor(errors.write))
        } catch {
            close(output.read)
            close(errors.read)
            throw error
        }
        // Blocking reads on threads of their own, each holding its pipe until end of file.
        let buffer = self.buffer
        Thread.detachNewThread {
            var partial = ""
            Self.read(output.read) { data in
                partial += String(decoding: data, as: UTF8.self)
                let pieces = partial.split(separator: "\n", omittingEmptySubsequences: false)
                partial = String(pieces.last ?? "")
                buffer.output.withLock { $0 += pieces.dropLast().map(String.init) }
            }
            if !partial.isEmpty { buffer.output.withLock { $0.append(partial) } }
        }
        Thread.detachNewThread {
            Self.read(errors.read) { data in buffer.errors.withLock { $0 += String(decoding: data, as: UTF8.self) } }
        }
    }

    /// Reads `descriptor` to its end, handing each piece to `take`, then closes it.
    private static func read(_ descriptor: Int32, _ take: ([UInt8]) -> Void) {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            take(Array(chunk[0..<count]))
        }
        close(descriptor)
    }

    var lines: [String] { buffer.output.withLock { $0 } }
    var standardError: String { buffer.errors.withLock { $0 } }
    var isRunning: Bool { process.isRunning }
    var pid: Int32 { process.pid }

    /// Waits for an output line that satisfies `predicate`.
    @discardableResult
    func waitForLine(timeout: Double = 60, _ what: String, where predicate: (String) -> Bool) async throws -> String {
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

    func kill(_ signal: Int32) { process.signal(signal) }

    /// Waits for the process to end and returns its exit status.
    func exitStatus(timeout: Double = 30) async throws -> Int32 {
        let status = try await process.exit(timeout: .seconds(timeout))
        // Let the pipes drain.
        try await Task.sleep(for: .milliseconds(100))
        return status
    }
}

/// A loopback port nothing is listening on right now.
func freePort() -> Int { LoopbackPort.free() }
