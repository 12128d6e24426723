import ArgumentParser
import Audit
import Deployment
import Foundation
import ReferralModel
import Settings
import Storage

extension Switchboard {
    struct Prune: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove the personal data of closed referrals received before a date, as the retention policy allows.",
            discussion: """
                A referral is closed when every delivery was completed, declined or withdrawn (or it was held) and nothing \\
                about it needs attention. Its body and notes are removed; its id, deliveries and audit events stay, so \\
                `audit verify` stays green and its story can still be told. The date may be no later than the configured \\
                retention (retention_days, 8 years by default) allows. The prune is audited.
                """)

        @OptionGroup var configuration: ConfigurationOptions

        @Option(help: "The storage URL, instead of the one in the configuration (sqlite:PATH).")
        var storage: String?

        @Option(help: "Prune closed referrals received before this date (YYYY-MM-DD, Europe/London midnight).")
        var before: String

        func validate() throws {
            guard CalendarDate.isValid(before) else { throw ValidationError("--before must be a date written YYYY-MM-DD, for example 2018-01-01.") }
        }

        func run() async throws {
            let settings = SwitchboardSettings.read(path: configuration.config, environment: [:], requireSecrets: false).settings
            let retention = settings?.retentionDays ?? 2_920
            let now = Date()
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(identifier: "Europe/London") ?? .gmt
            let parts = before.split(separator: "-").compactMap { Int($0) }
            guard parts.count == 3, let cutoff = calendar.date(from: DateComponents(year: parts[0], month: parts[1], day: parts[2])) else {
                throw ValidationError("--before must be a date written YYYY-MM-DD.")
            }
            let latest = now.addingTimeInterval(-Double(retention) * 86_400)
            guard cutoff <= latest else {
                printError(
                    "The retention policy keeps closed referrals for \(retention) days, so --before may be no later than \(CalendarDate.string(from: latest)); nothing was pruned."
                )
                throw ExitCode.failure
            }
            let store = try auditStore(configuration, storage: storage)
            let actor = "command line (\(NSUserName()))"
            let count = try await store.pruneClosedReferrals(receivedBefore: cutoff, at: now) { count in
                AuditNarrative.referralsPruned(at: now, actor: actor, count: count, before: cutoff)
            }
            print(
                count == 0
                    ? "No closed referral received before \(before) holds personal data."
                    : "Removed the personal data of \(count) closed referrals received before \(before).")
        }
    }
}
