import ArgumentParser
import Delivery
import Foundation
import UseCases

extension Switchboard {
    struct Agencies: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Work with the agencies of a running gateway (admin key).", subcommands: [Ping.self])
    }
}

extension Switchboard.Agencies {
    struct Ping: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send an agency a signed test delivery (no personal data) and show what came back.",
            discussion: """
                Use it to bring a new or changed endpoint on board: it goes with the agency's own signing secret,
                authentication and TLS settings, marked `type: switchboard.test`, and shows the status, the time taken,
                whether TLS was verified and whether it was signed. It is audited; no referral is involved.
                """)

        @OptionGroup var options: GatewayOptions

        @Argument(help: "The agency's id.")
        var agency: String

        func validate() throws { try checkAgencyId(agency) }

        func run() async throws {
            let client = QueueClient(options: options)
            let result = try client.decode(try await client.send("/v1/agencies/\(agency)/ping", method: "POST"), as: PingResult.self)
            print(
                "\(result.agency) at \(result.endpoint): \(result.outcome)" + (result.status.map { ", HTTP \($0)" } ?? ", no answer")
                    + " in \(result.milliseconds) ms")
            print("  TLS: " + (result.endpoint.hasPrefix("https://") ? (result.tls ? "verified" : "not established") : "none (http)"))
            print(
                "  signature: "
                    + (result.signed
                        ? "signed with the agency's secret (webhook-id \(result.webhookId))" : "not signed: the agency has no secret_env"))
            if let detail = result.detail { print("  \(detail)") }
            if result.outcome != "accepted" { throw ExitCode.failure }
        }
    }
}
