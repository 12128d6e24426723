import ArgumentParser
import Deployment
import Foundation
import Settings
import Storage

/// Where the gateway is and which key to call it with; shared by the client commands.
struct GatewayOptions: ParsableArguments {
    @Option(help: "The gateway's base URL (default: $SWITCHBOARD_GATEWAY, else http://127.0.0.1:8080).")
    var gateway: String?

    @Option(name: .customLong("api-key"), help: "The API key (default: $SWITCHBOARD_API_KEY).")
    var apiKey: String?

    var baseURL: String {
        let url = gateway ?? ProcessInfo.processInfo.environment["SWITCHBOARD_GATEWAY"] ?? "http://127.0.0.1:8080"
        return url.hasSuffix("/") ? String(url.dropLast()) : url
    }

    func key() throws -> String {
        guard let key = apiKey ?? ProcessInfo.processInfo.environment["SWITCHBOARD_API_KEY"], !key.isEmpty else {
            throw ValidationError("No API key: pass --api-key or set SWITCHBOARD_API_KEY.")
        }
        return key
    }
}

/// The configuration file a command reads; shared by every command that reads one.
struct ConfigurationOptions: ParsableArguments {
    @Option(help: "The gateway's configuration file.")
    var config = "config/switchboard.yaml"

    /// The whole configuration, or a non-zero exit (78, EX_CONFIG) with every problem printed.
    /// - Parameter requireSecrets: false for commands that only read it, so keys and signing
    ///   secrets need not be in the environment.
    func load(requireSecrets: Bool = false, failure: String = "The configuration is not valid.") throws -> DeploymentConfiguration {
        do {
            return try DeploymentConfiguration.load(path: config, requireSecrets: requireSecrets)
        } catch {
            printError("\(failure)\n\(error)")
            throw ExitCode(78)
        }
    }

    /// The store a command reads and writes: `storage` (a URL given on the command line) or the
    /// configuration's, opened with the configuration's encryption key; or a sentence and a non-zero exit.
    func openStore(override storage: String?) throws -> any SwitchboardStore {
        let location = try storageLocation(override: storage)
        do {
            return try GatewayComponents.openStore(location, encryption: StorageEncryption.configured(configPath: config))
        } catch let error as ConfigError {
            printError("\(error)")
            throw ExitCode(78)
        } catch let error as RecordSealingProblem {
            printError("The store cannot be opened: \(error).")
            throw ExitCode.failure
        }
    }

    /// The key-encryption key the configuration names, for commands that open a SQLite file directly.
    func encryptionKey() throws -> KeyEncryptionKey? {
        do {
            return try StorageEncryption.configured(configPath: config).map { try KeyEncryptionKey(bytes: try $0.key()) }
        } catch {
            printError("\(error)")
            throw ExitCode(78)
        }
    }

    /// Where the store is: `storage` (a URL given on the command line) or the configuration's.
    func storageLocation(override storage: String?) throws -> StorageLocation {
        do {
            return try StorageLocation.configured(configPath: config, override: storage)
        } catch {
            printError("\(error)")
            throw ExitCode(78)
        }
    }
}

/// Writes a line to standard output at once, unbuffered, so a supervising process sees it.
func emit(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
