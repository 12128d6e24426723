import ArgumentParser
import Audit
import Deployment
import Foundation
import Storage

extension Switchboard {
    struct Backup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy the SQLite store to FILE while the gateway runs, consistently, and check the copy.",
            discussion: """
                The copy is one consistent moment of the store (SQLite's online backup, inside one read transaction), \\
                taken without stopping the gateway. It is written beside FILE and renamed into place once whole, then \\
                opened and its audit chain verified. To restore: stop the gateway, copy FILE over the storage.url \\
                file (removing any -wal and -shm files beside it), start the gateway, and run `switchboard audit verify`.
                """)

        @OptionGroup var configuration: ConfigurationOptions

        @Option(help: "The storage URL, instead of the one in the configuration (sqlite:PATH).")
        var storage: String?

        @Argument(help: "Where to write the copy. It must not exist.")
        var file: String

        func run() async throws {
            let location = try configuration.storageLocation(override: storage)
            guard case .sqlite(let path) = location else {
                printError(
                    "This gateway's store is PostgreSQL: back it up with the database's own tools (pg_dump, or continuous archiving with pg_basebackup), then check a restored copy with `switchboard audit verify --storage postgres://…`."
                )
                throw ExitCode.failure
            }
            guard FileManager.default.fileExists(atPath: path) else {
                printError("There is no database at \(path): has the gateway run with this configuration?")
                throw ExitCode.failure
            }
            let target = URL(fileURLWithPath: file).standardizedFileURL
            guard !FileManager.default.fileExists(atPath: target.path) else {
                printError("\(file) already exists; name a new file, so no backup is overwritten by mistake.")
                throw ExitCode.failure
            }
            guard target.path != URL(fileURLWithPath: path).standardizedFileURL.path else {
                printError("\(file) is the live database itself; name another file.")
                throw ExitCode.failure
            }
            let started = ContinuousClock.now
            let key = try configuration.encryptionKey()
            let store = try SQLiteStore(path: path, encryption: key)
            let summary: SQLiteStore.BackupSummary
            do {
                summary = try await store.backup(to: target.path)
            } catch let error as CocoaError {
                printError("Could not write \(file): \(error.localizedDescription)")
                throw ExitCode.failure
            }
            let copy = try SQLiteStore(path: target.path, encryption: key)
            let elapsed = started.duration(to: .now)
            switch try await copy.verifyAudit() {
            case .intact(let events, let head):
                let megabytes = Double(summary.bytes) / 1_048_576
                print(
                    "Backed up \(summary.referrals) referrals and \(events) audit events to \(file) (\(String(format: "%.1f", megabytes)) MB) in \(elapsed.formatted(.units(allowed: [.seconds, .milliseconds], width: .narrow))); the copy's audit chain is intact, head \(head)."
                )
            case .broken(let sequence, let reason):
                printError(
                    "The copy's audit chain does not verify at event \(sequence): \(reason). Keep the live database; investigate before relying on this copy."
                )
                throw ExitCode.failure
            }
        }
    }
}
