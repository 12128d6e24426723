import Audit
import Foundation
import Logging
import ReferralModel
import ServiceLifecycle
import Settings
import Storage
import UnixSignals

/// Keeps the live keys current: on SIGHUP it reads switchboard.yaml's `api_keys` again (so a key
/// removed there is refused from that moment, without a restart), and every few seconds it reads
/// the managed keys from the store (so a key revoked through another gateway on the same store is
/// refused here too). A file with problems changes nothing and says why.
public struct KeysWatcher: Service {
    let keys: LiveKeys
    let administration: KeyAdministration
    let audit: any AuditLog
    let configPath: String
    let environment: [String: String]
    let clock: any WallClock
    let logger: Logger
    let interval: Duration

    public init(
        keys: LiveKeys, administration: KeyAdministration, audit: any AuditLog, configPath: String, environment: [String: String],
        clock: any WallClock, logger: Logger, interval: Duration = .seconds(2)
    ) {
        self.keys = keys
        self.administration = administration
        self.audit = audit
        self.configPath = configPath
        self.environment = environment
        self.clock = clock
        self.logger = logger
        self.interval = interval
    }

    public func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in signals { await reloadConfigured() }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    do { try await administration.refresh() } catch {
                        logger.warning("Could not read the managed API keys", metadata: ["error.type": "\(type(of: error))"])
                    }
                }
            }
            try? await gracefulShutdown()
            group.cancelAll()
        }
    }

    /// Reads `api_keys` from switchboard.yaml and puts them in force, audited.
    public func reloadConfigured() async {
        let (settings, issues) = SwitchboardSettings.read(path: configPath, environment: environment, requireSecrets: true)
        guard let settings, issues.isEmpty else {
            for issue in issues { logger.error("\(issue)") }
            logger.error("switchboard.yaml has problems; the API keys in force are unchanged")
            return
        }
        let before = Dictionary(keys.configured.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        let after = Dictionary(settings.apiKeys.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        keys.replaceConfigured(settings.apiKeys)
        let event = AuditNarrative.keysReloaded(
            at: clock.now(), count: after.count, added: after.keys.filter { before[$0] == nil }.sorted(),
            removed: before.keys.filter { after[$0] == nil }.sorted(),
            changed: after.keys.filter { before[$0] != nil && before[$0] != after[$0] }.sorted())
        do { try await audit.appendAudit([event]) } catch {
            logger.error("Could not audit the reloaded API keys", metadata: ["error.type": "\(type(of: error))"])
        }
        logger.notice("API keys reloaded from switchboard.yaml", metadata: ["keys": "\(after.count)"])
    }
}
