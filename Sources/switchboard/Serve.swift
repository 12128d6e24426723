import ArgumentParser
import Audit
import Foundation
import Gateway
import Hummingbird
import Logging
import ReferralModel
import Routing
import Storage

extension Switchboard {
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the gateway: the HTTP API and the delivery dispatcher.")

        @Option(help: "The gateway's configuration file.")
        var config = "config/switchboard.yaml"

        @Option(help: "Listen on this address instead of the configured one.")
        var host: String?

        @Option(help: "Listen on this port instead of the configured one (0 picks a free port).")
        var port: Int?

        @Option(help: "Use this storage URL instead of the configured one (sqlite:PATH).")
        var storage: String?

        @Option(help: "Log level: trace, debug, info, notice, warning, error or critical.")
        var logLevel: String = ProcessInfo.processInfo.environment["LOG_LEVEL"] ?? "info"

        func run() async throws {
            var logger = Logger(label: "switchboard")
            logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
            var configuration: GatewayConfiguration
            do {
                configuration = try GatewayConfiguration.load(path: config)
            } catch {
                printError("The configuration is not valid; the gateway did not start.\n\(error)")
                throw ExitCode(78)
            }
            if let host { configuration.host = host }
            if let port { configuration.port = port }
            if let storage {
                guard let location = StorageLocation.parse(storage, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
                else { throw ValidationError("--storage must be sqlite:PATH.") }
                configuration.storage = location
            }
            let gateway = try Gateway(configuration: configuration, logger: logger)
            try await gateway.start()
            let host = configuration.host
            let rulesVersion = configuration.rules.version
            let app = gateway.application(logger: logger) { port in
                emit("Switchboard listening on http://\(host):\(port) (rules \(rulesVersion))")
            }
            try await app.runService()
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
