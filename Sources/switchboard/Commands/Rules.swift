import ArgumentParser
import Deployment
import Foundation
import ReferralModel
import Routing

extension Switchboard {
    struct Rules: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check routing rules before they go live, see how a referral would be routed, and change the live rules safely.",
            discussion: """
                validate and test read files on this machine. diff, impact, apply, history, rollback and show talk to the \
                gateway's admin API (--gateway, --api-key with an admin key). Where the deployment requires approval \
                (rules: {file: rules.yaml, approval: required}), a change is proposed and another administrator approves it.
                """,
            subcommands: [
                Validate.self, Test.self, DiffCommand<RulesKind>.self, ApplyCommand<RulesKind>.self, HistoryCommand<RulesKind>.self,
                RollbackCommand<RulesKind>.self, ShowCommand<RulesKind>.self, ProposeCommand<RulesKind>.self, ProposalsCommand<RulesKind>.self,
                ApproveCommand<RulesKind>.self, RejectCommand<RulesKind>.self, ImpactCommand<RulesKind>.self,
            ])
    }
}

/// The configuration and, optionally, another rules file to use in its place.
struct RulesOptions: ParsableArguments {
    @OptionGroup var configuration: ConfigurationOptions

    func load() throws -> DeploymentConfiguration { try configuration.load() }

    func rules(_ file: String?, configuration: DeploymentConfiguration) throws -> RuleSet {
        guard let file else { return configuration.rules }
        do {
            return try RuleSet.load(path: file, agencies: configuration.agencies, vocabulary: configuration.settings.vocabulary)
        } catch {
            printError("\(error)")
            throw ExitCode.failure
        }
    }
}

extension Switchboard.Rules {
    struct Validate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Report every problem in a rules file, each with file:line:column and a hint; exit non-zero on any.")

        @OptionGroup var options: RulesOptions

        @Argument(help: "The rules file (default: the one the configuration names).")
        var file: String?

        func run() async throws {
            let configuration = try options.load()
            let rules = try options.rules(file, configuration: configuration)
            print("\(file ?? "The configured rules"): valid; \(rules.rules.count) rules, fallback \(rules.fallback), version \(rules.version).")
        }
    }

    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "A dry run: which rules match a referral and which agencies it would go to, and for each rule that does not match, the condition that failed."
        )

        @OptionGroup var options: RulesOptions

        @Option(help: "When the referral is received, RFC 3339 (default now), for time windows and ages.")
        var at: String?

        @Option(help: "A rules file to test instead of the configured one.")
        var rules: String?

        @Argument(help: "The referral JSON file, or - for standard input.")
        var referral: String

        func run() async throws {
            var when = Date()
            if let at {
                guard let parsed = ISO8601DateFormatter().date(from: at) else {
                    throw ValidationError("--at must be an RFC 3339 time such as 2026-12-25T18:30:00Z.")
                }
                when = parsed
            }
            let configuration = try options.load()
            let set = try options.rules(rules, configuration: configuration)
            let decoded = try readReferral(referral, vocabulary: configuration.settings.vocabulary, today: CalendarDate.string(from: when))
            var authorities: Set<String> = []
            if set.namesLocalAuthorities {
                // Read-only: the directory lives in the gateway's store.
                let store = try GatewayComponents.openStore(configuration.settings.storage, encryption: configuration.settings.storageEncryption)
                authorities = try await store.localAuthorities(of: decoded.subject.postcode)
                print(
                    authorities.isEmpty
                        ? "The postcode directory has no entry for \(decoded.subject.postcode)."
                        : "The postcode directory places \(decoded.subject.postcode) in \(authorities.sorted().joined(separator: ", ")).")
            }
            let (decision, traces) = set.explain(decoded, at: when, localAuthorities: authorities)
            print("Rules \(decision.rulesVersion), received \(Timestamp.string(when)):")
            if decision.outOfArea {
                print(
                    "The postcode is outside the service area (\(((set.serviceArea?.prefixes ?? []) + (set.serviceArea?.localAuthorities ?? [])).joined(separator: ", "))): the rules are not applied."
                )
                print(
                    decision.targets.isEmpty
                        ? "Held, sent to no one (status out-of-area): refer the person to their own area."
                        : "Routed to:")
                for target in decision.targets { print("  \(target.agency) by rule \(target.rule)") }
                return
            }
            for trace in traces {
                if trace.skipped {
                    print("  -  \(trace.rule): not considered (an earlier matching rule has stop: true)")
                } else if let failure = trace.failure {
                    print("  x  \(trace.rule): \(failure)")
                } else {
                    print(
                        "  ok \(trace.rule): matched -> \(trace.agencies.isEmpty ? "no agency covers this postcode" : trace.agencies.joined(separator: ", "))"
                    )
                }
            }
            print(decision.usedFallback ? "No rule routed it: the fallback \(set.fallback) receives it." : "Routed to:")
            for target in decision.targets where !decision.usedFallback {
                let alternatives = target.alternatives.isEmpty ? "" : " (alternatives: \(target.alternatives.joined(separator: ", ")))"
                print("  \(target.agency) by rule \(target.rule)\(alternatives)")
            }
        }
    }
}
