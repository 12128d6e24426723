import ArgumentParser
import Audit
import Foundation
import Gateway
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

        @Option(help: "The gateway's configuration file, to find its storage.")
        var config = "config/switchboard.yaml"

        @Option(help: "The storage URL, instead of the one in the configuration (sqlite:PATH).")
        var storage: String?

        func run() async throws {
            let location: StorageLocation
            do {
                location = try StorageConfiguration.location(configPath: config, override: storage)
            } catch {
                printError("\(error)")
                throw ExitCode(78)
            }
            let store: any ReferralStore
            switch location {
            case .sqlite(let path):
                guard FileManager.default.fileExists(atPath: path) else {
                    printError("There is no database at \(path): has the gateway run with this configuration?")
                    throw ExitCode.failure
                }
                store = try SQLiteReferralStore(path: path)
            }
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
