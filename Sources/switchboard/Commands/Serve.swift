import ArgumentParser
import Deployment
import Foundation
import Gateway
import Hummingbird
import Logging
import Observability
import ServiceLifecycle
import Settings
import Storage
import UnixSignals

extension Switchboard {
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the gateway: the HTTP API and the delivery dispatcher.")

        @OptionGroup var options: ConfigurationOptions

        @Option(help: "Listen on this address instead of the configured one.")
        var host: String?

        @Option(help: "Listen on this port instead of the configured one (0 picks a free port).")
        var port: Int?

        @Option(help: "Use this storage URL instead of the configured one (sqlite:PATH).")
        var storage: String?

        @Option(help: "Log level: trace, debug, info, notice, warning, error or critical.")
        var logLevel: String = ProcessInfo.processInfo.environment["LOG_LEVEL"] ?? "info"

        @Option(help: "Log format: json (one object a line), text, or auto: json unless standard error is a terminal.")
        var logFormat: String = "auto"

        func validate() throws {
            guard ["auto", "json", "text"].contains(logFormat) else { throw ValidationError("--log-format must be auto, json or text.") }
        }

        func run() async throws {
            if logFormat == "json" || (logFormat == "auto" && isatty(STDERR_FILENO) == 0) {
                LoggingSystem.bootstrap { JSONLinesLogHandler(label: $0) }
            }
            var logger = Logger(label: "switchboard")
            logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
            var configuration = try options.load(requireSecrets: true, failure: "The configuration is not valid; the gateway did not start.")
            if let host { configuration.settings.server.host = host }
            if let port { configuration.settings.server.port = port }
            if let storage {
                guard let location = StorageLocation.parse(storage, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
                else { throw ValidationError("--storage must be sqlite:PATH or postgres://USER@HOST:PORT/DATABASE.") }
                configuration.settings.storage = location
            }
            let components: GatewayComponents
            do {
                components = try GatewayComponents(configuration: configuration, logger: logger)
            } catch {
                printError("The gateway did not start: \(error).")
                throw ExitCode.failure
            }
            do {
                try await components.start()
            } catch let error as ConfigError {
                printError("The gateway did not start.\n\(error)")
                throw ExitCode(78)
            } catch let error as StoreUnavailable {
                printError("The gateway did not start: \(error.reason)")
                throw ExitCode.failure
            }
            switch configuration.settings.environment {
            case .production?: break
            case .test?:
                logger.warning("This gateway is a test system (environment: test): NHS numbers in the 999 test range are accepted")
            case nil:
                logger.warning(
                    "switchboard.yaml does not say environment: production or test, so this gateway is a test system: NHS numbers in the 999 test range are accepted. A live gateway says environment: production"
                )
            }
            for agency in configuration.agencies.agencies where agency.allowPlainHTTP && agency.endpoint.lowercased().hasPrefix("http://") {
                logger.warning(
                    "Referrals to this agency are sent unencrypted (allow_plain_http: true): only on a network you trust",
                    metadata: ["agency": "\(agency.id)"])
            }
            let host = configuration.settings.server.host
            let rulesVersion = configuration.rules.version
            let gateway = try GatewayApplication(components: components, logger: logger)
            let scheme = gateway.scheme
            let app: any ApplicationProtocol
            do {
                app = try gateway.application(logger: logger) { port in
                    emit("Switchboard listening on \(scheme)://\(host):\(port) (rules \(rulesVersion))")
                }
            } catch {
                printError("The gateway did not start: the TLS certificate or key could not be used (\(error)).")
                throw ExitCode(78)
            }
            // SIGTERM or SIGINT: stop accepting, let deliveries in flight finish for at most
            // shutdown_seconds, then abandon them (their leases end with the process; a restart
            // sends them again with the same webhook-id).
            let grace = configuration.settings.server.shutdownSeconds
            let group = components.serviceGroup(server: app, logger: logger)
            let stopping = Task {
                for await _ in await UnixSignalsSequence(trapping: .sigterm, .sigint) {
                    emit("Switchboard stopping: no new requests; deliveries in flight have \(Int(grace)) s to finish")
                    break
                }
            }
            defer { stopping.cancel() }
            do {
                try await group.run()
            } catch let error as ServiceGroupError {
                emit("Switchboard stopped: deliveries still in flight after \(Int(grace)) s were abandoned and will be sent again (\(error))")
                return
            }
            emit("Switchboard stopped")
        }
    }
}
