import ArgumentParser
import Foundation
import ReferralModel
import Transport
import UseCases

extension Switchboard {
    struct Records: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Answer a subject access request: every referral about one person (governance key).",
            subcommands: [Find.self])
    }
}

extension Switchboard.Records {
    struct Find: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Find every referral about one person, by NHS number or by family name and birth date.",
            discussion: """
                Prints each referral found with its deliveries and the agencies' answers; --output FILE writes the whole \\
                disclosure (each referral as sent, its deliveries, answers, notes, original message and audit events) as \\
                one JSON document. The search is audited with the key that made it and --reason, which is required: give a \\
                case reference (SAR-2026-114), not the person's details.
                """)

        @OptionGroup var options: GatewayOptions

        @Option(name: .customLong("nhs-number"), help: "The person's NHS number.")
        var nhsNumber: String?

        @Option(name: .customLong("family-name"), help: "The person's family name, with --birth-date.")
        var familyName: String?

        @Option(name: .customLong("birth-date"), help: "The person's birth date (YYYY-MM-DD), with --family-name.")
        var birthDate: String?

        @Option(help: "Why the records are searched: a case reference, kept in the audit trail.")
        var reason: String?

        @Option(help: "Write the disclosure, as one JSON document, to this file.")
        var output: String?

        func run() async throws {
            let checked = SubjectAccess.search(nhsNumber: nhsNumber, familyName: familyName, birthDate: birthDate, reason: reason)
            if let refusal = checked.refusals.first {
                let option = ["nhsNumber": "--nhs-number", "familyName": "--family-name", "birthDate": "--birth-date", "reason": "--reason"]
                throw ValidationError("\(option[refusal.parameter] ?? refusal.parameter) \(refusal.detail)")
            }
            var query = URLComponents()
            query.queryItems =
                (nhsNumber.map { [URLQueryItem(name: "nhsNumber", value: $0)] }
                    ?? [URLQueryItem(name: "familyName", value: familyName), URLQueryItem(name: "birthDate", value: birthDate)])
                + [URLQueryItem(name: "reason", value: reason)]
            let encoded = (query.percentEncodedQuery ?? "").replacingOccurrences(of: "+", with: "%2B")
            let client = QueueClient(options: options)
            let response = try await client.send("/v1/records?" + encoded)
            let disclosure = try client.decode(response, as: SubjectAccess.Disclosure.self)
            if let output {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                do {
                    try encoder.encode(disclosure).write(to: URL(fileURLWithPath: output), options: .withoutOverwriting)
                } catch {
                    printError("Could not write \(output) (it must not exist already): \(error.localizedDescription)")
                    throw ExitCode.failure
                }
            }
            print(
                "\(disclosure.referrals.count) referral\(disclosure.referrals.count == 1 ? "" : "s") found; the search is audited as \(disclosure.searchedBy) for '\(disclosure.reason)'."
            )
            for record in disclosure.referrals {
                let report = record.report
                print("\(record.id)  received \(report.receivedAt) from \(report.submittedBy)  \(report.status.rawValue)")
                for delivery in report.deliveries {
                    print("  -> \(delivery.agency)  \(delivery.state.rawValue)" + (delivery.declineReason.map { " (\($0.rawValue))" } ?? ""))
                }
                if let notes = report.notes, !notes.isEmpty { print("  \(notes.count) note\(notes.count == 1 ? "" : "s")") }
            }
            if output == nil, !disclosure.referrals.isEmpty { print("Write everything held, as one JSON document, with --output FILE.") }
        }
    }
}
