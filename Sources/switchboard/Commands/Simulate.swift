import ArgumentParser
import Foundation
import Logging
import ReferralModel
import Settings
import Simulation

extension Switchboard {
    struct Simulate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a scripted week (or any stretch) of referrals through this configuration, and report what became of each.",
            discussion: """
                The scenario says how many referrals arrive each hour and of what kind, and how each agency answers: \
                how often it accepts or declines and why, how long it takes, its hours, its daily capacity, and when \
                it is silent, unreachable or failing. The gateway's own intake, rules, dispatcher, retries, deadlines \
                and attention list run over an in-memory store and a simulated clock; nothing is sent anywhere and \
                nothing is stored. The report lists every referral not accounted for (not accepted, completed, closed \
                with a reason, or in front of a person) with why. The same scenario and seed give the same report. \
                Exits 1 when any referral is unaccounted for. Example: config/examples/scenario-week.yaml.
                """)

        @OptionGroup var configuration: ConfigurationOptions

        @Option(help: "The scenario file (YAML; config/schema/scenario.schema.json).")
        var scenario: String

        @Option(help: "Also write the report as JSON to this file.")
        var report: String?

        @Option(help: "Use this seed instead of the scenario's.")
        var seed: UInt64?

        func run() async throws {
            let loaded = try configuration.load()
            var scenario: Scenario
            do {
                scenario = try Scenario.load(
                    path: self.scenario, agencies: Set(loaded.agencies.agencies.map(\.id)), needs: Set(loaded.settings.vocabulary.codes),
                    bankHolidays: loaded.rules.bankHolidays)
            } catch {
                printError("The scenario is not valid.\n\(error)")
                throw ExitCode(78)
            }
            if let seed { scenario.seed = seed }
            var logger = Logger(label: "switchboard.simulate")
            logger.logLevel = .critical
            let started = ContinuousClock.now
            let simulator = try Simulator(
                scenario: scenario, name: URL(fileURLWithPath: self.scenario).lastPathComponent, configuration: loaded, logger: logger)
            let result = try await simulator.run()
            let elapsed = started.duration(to: .now)
            print(result.text, terminator: "")
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            print(String(format: "Simulated %d referrals in %.1f s.", result.referrals.submitted, seconds))
            if let report {
                do {
                    try result.json.write(to: URL(fileURLWithPath: report))
                } catch {
                    printError("Could not write the report to \(report): \(error.localizedDescription)")
                    throw ExitCode.failure
                }
            }
            if !result.unaccounted.isEmpty { throw ExitCode.failure }
        }
    }
}
