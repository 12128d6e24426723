import Foundation
import Synchronization

/// Starts child processes one at a time across every test suite in the process: Foundation's
/// `Process.run()` on Linux crashes (a bad memcpy inside it) when two threads launch at once.
public enum ProcessLaunch {
    private static let lock = Mutex<Void>(())

    public static func run(_ process: Process) throws {
        try lock.withLock { _ in try process.run() }
    }

    /// Runs another way of starting a process (posix_spawn) under the same lock: Foundation's
    /// launch was seen to crash while a posix_spawn ran on another thread.
    public static func locked<Value>(_ launch: () throws -> Value) rethrows -> Value {
        try lock.withLock { _ in try launch() }
    }
}
