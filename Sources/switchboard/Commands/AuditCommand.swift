import ArgumentParser
import Audit
import Deployment
import Foundation
import Settings
import Storage

extension Switchboard {
    struct AuditCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "audit", abstract: "Read and check the audit trail.", subcommands: [Verify.self])
    }
}

extension Switchboard.AuditCommand {
    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Check the audit log's hash chain and name the first event that was edited, deleted or moved; then check it against the signed checkpoints, which show the newest events deleted or the chain rewritten."
        )

        @OptionGroup var configuration: ConfigurationOptions

        @Option(help: "The storage URL, instead of the one in the configuration (sqlite:PATH).")
        var storage: String?

        @Option(help: "The checkpoint file, instead of the configuration's audit.checkpoint_file.")
        var checkpoints: String?

        @Option(name: .customLong("key-env"), help: "The environment variable holding the checkpoint key, instead of audit.key_env.")
        var keyEnv: String?

        func run() async throws {
            let location = try configuration.storageLocation(override: storage)
            if case .sqlite(let path) = location, !FileManager.default.fileExists(atPath: path) {
                printError("There is no database at \(path): has the gateway run with this configuration?")
                throw ExitCode.failure
            }
            let store = try GatewayComponents.openStore(location)
            let configured = SwitchboardSettings.read(path: configuration.config, environment: [:], requireSecrets: false).settings?.auditCheckpoints
            let file = checkpoints ?? configured?.file
            let name = keyEnv ?? configured?.keyEnv
            let verdict: AuditChain.Verdict
            var anchored = false
            if let file, let name {
                guard let key = ProcessInfo.processInfo.environment[name], !key.isEmpty else {
                    printError("Set \(name) to the audit checkpoint key: without it the chain cannot be checked against \(file).")
                    throw ExitCode.failure
                }
                verdict = try await store.verifyAudit(against: CheckpointFile(path: file, secret: key))
                anchored = true
            } else {
                verdict = try await store.verifyAudit()
            }
            switch verdict {
            case .intact(let events, let head):
                print(
                    "Audit chain intact: \(events) events, head \(head)"
                        + (anchored
                            ? "; it matches every signed checkpoint."
                            : ". No checkpoint file is configured, so deleting the newest events would not show."))
            case .broken(let sequence, let reason):
                print("Audit chain BROKEN at event \(sequence): \(reason).")
                throw ExitCode.failure
            }
        }
    }
}
