import Foundation
import Synchronization

/// Starts child processes one at a time across every test suite in the process: Foundation's
/// `Process.run()` on Linux crashes (a bad memcpy inside it) when two threads launch at once.
public enum ProcessLaunch {
    private static let lock = Mutex<Void>(())

    public static func run(_ process: Process) throws {
        try lock.withLock { _ in try process.run() }
    }
}
