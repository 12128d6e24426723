import ArgumentParser
import Deployment
import Foundation
import PostgresStorage
import Settings
import Storage

extension Switchboard {
    struct StorageCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "storage", abstract: "Make and replace the key that encrypts personal data at rest.",
            subcommands: [NewKey.self, RotateKey.self])
    }
}

extension Switchboard.StorageCommand {
    struct NewKey: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "new-key", abstract: "Print a new key-encryption key (32 random bytes in base64).",
            discussion: """
                Keep it away from the database and its backups: in the file storage.encryption.key_file names (readable by \\
                the gateway's user alone), or in the environment variable key_env names. Without it the data cannot be read.
                """)

        func run() throws { print(KeyEncryptionKey.newEncoded()) }
    }

    struct RotateKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-key", abstract: "Re-wrap the store's data keys under a new key-encryption key, while gateways run.",
            discussion: """
                Reads the current key from storage.encryption in the configuration, and the new one from --new-key-file or \\
                --new-key-env. Only the data keys are re-wrapped; nothing else is re-encrypted, and running gateways carry on. \\
                Then point storage.encryption at the new key, and restart each gateway when convenient: one started with the \\
                old key after this says so and stops.
                """)

        @OptionGroup var configuration: ConfigurationOptions

        @Option(help: "The storage URL, instead of the one in the configuration.")
        var storage: String?

        @Option(name: .customLong("new-key-file"), help: "A file holding the new key (from `switchboard storage new-key`).")
        var newKeyFile: String?

        @Option(name: .customLong("new-key-env"), help: "An environment variable holding the new key.")
        var newKeyEnv: String?

        func run() async throws {
            let source: StorageEncryption.Source
            switch (newKeyFile, newKeyEnv) {
            case (let file?, nil): source = .file(file)
            case (nil, let name?): source = .environment(name)
            default: throw ValidationError("Give the new key with exactly one of --new-key-file and --new-key-env.")
            }
            guard let current = try configuration.encryptionKey() else {
                printError(
                    "The configuration has no storage.encryption, so the store is not encrypted: set storage.encryption to a key first (the gateway encrypts the stored data at its next start)."
                )
                throw ExitCode.failure
            }
            let newKey: KeyEncryptionKey
            do {
                newKey = try KeyEncryptionKey(bytes: try StorageEncryption(source: source).key())
            } catch {
                printError("The new key cannot be used: \(error)")
                throw ExitCode.failure
            }
            let store = try configuration.openStore(override: storage)
            let count: Int
            do {
                switch store {
                case let sqlite as SQLiteStore: count = try await sqlite.rotateKey(to: newKey, from: current)
                case let postgres as PostgresStore: count = try await postgres.rotateKey(to: newKey, from: current)
                default: throw RecordSealingProblem("this store keeps no data keys")
                }
            } catch let problem as RecordSealingProblem {
                printError("The key was not rotated: \(problem).")
                throw ExitCode.failure
            }
            print(
                count == 0
                    ? "The data keys are already wrapped with key \(newKey.id); nothing changed."
                    : "Re-wrapped \(count) data keys with key \(newKey.id) (was \(current.id)). Now set storage.encryption to the new key and restart each gateway; keep the old key until every backup made before now has expired."
            )
        }
    }
}
