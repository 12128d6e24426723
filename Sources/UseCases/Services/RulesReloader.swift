import Foundation
import ServiceLifecycle
import UnixSignals

/// Reloads the rules file on SIGHUP and, every `interval` seconds, when its text has changed.
/// Both go through the administrator, so a reload is validated, stored and audited like any other
/// change, and a bad file leaves the live rules in force.
public struct RulesReloader: Service {
    let administrator: RulesAdministrator
    /// Seconds between checks of the file; 0 leaves reloads to SIGHUP.
    let interval: Double

    public init(administrator: RulesAdministrator, interval: Double) {
        self.administrator = administrator
        self.interval = interval
    }

    public func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in signals {
                    await administrator.reload(trigger: "SIGHUP")
                }
            }
            if interval > 0 {
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .milliseconds(Int(interval * 1000)))
                        if Task.isCancelled { break }
                        await administrator.reload(trigger: "file changed")
                    }
                }
            }
            // Both loops end only when cancelled: wait for graceful shutdown, then cancel them.
            try? await gracefulShutdown()
            group.cancelAll()
        }
    }
}
