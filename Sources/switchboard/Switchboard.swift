import ArgumentParser

@main
struct Switchboard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchboard",
        abstract: "Routes health and social care referrals to every organisation that must act on them.",
        subcommands: [Serve.self, Submit.self, Status.self, AuditCommand.self, Receiver.self, Adapters.self, Rules.self])
}

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

import Foundation
