import ArgumentParser
import Delivery
import Foundation
import Transport
import UseCases

extension Switchboard {
    struct Agencies: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change the agencies of a running gateway safely, and test an agency's endpoint (admin key).",
            discussion: """
                validate reads files on this machine; the others talk to the gateway's admin API. agencies.yaml is governed \
                as the rules are: each change is validated (adapters, options, secrets in the gateway's environment, and the \
                live rules that name agencies), stored as a version, audited and swapped in; where the deployment requires \
                approval (agencies: {file: agencies.yaml, approval: required}) it is proposed and another administrator approves it.
                """,
            subcommands: [
                Validate.self, DiffCommand<AgenciesKind>.self, ApplyCommand<AgenciesKind>.self, HistoryCommand<AgenciesKind>.self,
                RollbackCommand<AgenciesKind>.self, ShowCommand<AgenciesKind>.self, ProposeCommand<AgenciesKind>.self,
                ProposalsCommand<AgenciesKind>.self, ApproveCommand<AgenciesKind>.self, RejectCommand<AgenciesKind>.self, Ping.self,
                ImpactCommand<AgenciesKind>.self,
            ])
    }
}

extension Switchboard.Agencies {
    struct Validate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Report every problem in an agencies file (adapters and options, secrets in this environment, and the configured rules that name agencies), each with file:line:column and a hint."
        )

        @OptionGroup var configuration: ConfigurationOptions

        @Argument(help: "The agencies file (default: the one the configuration names).")
        var file: String?

        func run() async throws {
            let loaded = try configuration.load()
            guard let file else {
                print("The configured agencies: valid; \(loaded.agencies.agencies.count) agencies, version \(loaded.agencies.version).")
                return
            }
            do {
                let agencies = try loaded.validateAgencies(try readRulesFile(file), file: file)
                print("\(file): valid; \(agencies.agencies.count) agencies, version \(agencies.version); the configured rules still hold.")
            } catch {
                printError("\(error)")
                throw ExitCode.failure
            }
        }
    }

    struct Ping: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send an agency a signed test delivery (no personal data) and show what came back.",
            discussion: """
                Use it to bring a new or changed endpoint on board: it goes with the agency's own signing secret,
                authentication and TLS settings, marked `type: switchboard.test`, and shows the status, the time taken,
                whether TLS was verified and whether it was signed. It is audited; no referral is involved.
                With --proposed FILE, the agency is tested as that agencies file describes it (a new agency,
                or a new endpoint, secret or TLS setting) before the file is applied; nothing is installed.
                """)

        @OptionGroup var options: GatewayOptions

        @Argument(help: "The agency's id.")
        var agency: String

        @Option(name: .customLong("proposed"), help: "Test the agency as this agencies file describes it, before it is applied.")
        var proposed: String?

        func validate() throws { try checkAgencyId(agency) }

        func run() async throws {
            let client = QueueClient(options: options)
            let response: Transport.HTTPResponse
            if let proposed {
                let text = try readRulesFile(proposed)
                response = try await call(
                    Transport.HTTPRequest(
                        url: options.baseURL + "/v1/agencies/test?agency=\(agency)", method: "POST",
                        headers: [
                            ("Authorization", "Bearer \(try options.key())"), ("Accept", "application/json"), ("Content-Type", "application/yaml"),
                        ], body: Array(text.utf8)), gateway: options.baseURL)
                if response.status == 422 { throw reportRulesProblem(response, file: proposed) }
            } else {
                response = try await client.send("/v1/agencies/\(agency)/ping", method: "POST")
            }
            let result = try client.decode(response, as: PingResult.self)
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
