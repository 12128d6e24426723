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
            abstract: "Check the audit log's hash chain and name the first event that was edited, deleted or moved.")

        @OptionGroup var configuration: ConfigurationOptions

        @Option(help: "The storage URL, instead of the one in the configuration (sqlite:PATH).")
        var storage: String?

        func run() async throws {
            let location = try configuration.storageLocation(override: storage)
            if case .sqlite(let path) = location, !FileManager.default.fileExists(atPath: path) {
                printError("There is no database at \(path): has the gateway run with this configuration?")
                throw ExitCode.failure
            }
            let store = try GatewayComponents.openStore(location)
            switch try await store.verifyAudit() {
            case .intact(let events, let head):
                print("Audit chain intact: \(events) events, head \(head).")
            case .broken(let sequence, let reason):
                print("Audit chain BROKEN at event \(sequence): \(reason).")
                throw ExitCode.failure
            }
        }
    }
}
