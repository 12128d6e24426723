import ArgumentParser
import Foundation
import ReferralModel
import Transport
import UseCases

extension Switchboard {
    struct Records: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Answer a subject access request: every referral about one person (governance key).",
            subcommands: [Find.self, Rectify.self, Erase.self])
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

extension Switchboard.Records {
    struct Erase: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Erase one referral's personal data, keeping its ids, deliveries and audit trail (governance key).",
            discussion: """
                Destroys the referral's key, and with it the referral as sent, its notes, the message it came as and the \
                agencies' replies; deliveries not yet made are withdrawn. Agencies that already hold it are not told: tell \
                them. A referral with a safeguarding delivery still open needs a second person: the first run records the \
                request, and the same command run with another governance key erases it.
                """)

        @OptionGroup var options: GatewayOptions

        @Argument(help: "The referral's id.")
        var id: String

        @Option(help: "Why: a case reference, kept in the audit trail.")
        var reason: String

        func run() async throws {
            guard Identifier.isWellFormed(id) else { throw ValidationError("'\(id)' is not a referral id.") }
            let body = String(decoding: try JSONEncoder().encode(["reason": reason]), as: UTF8.self)
            let client = QueueClient(options: options)
            let response = try await client.send("/v1/records/\(id)/erase", method: "POST", json: body)
            guard response.status == 200 || response.status == 202 else { throw reportProblem(response) }
            let answer = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
            if response.status == 202 {
                let agencies = (answer["safeguarding"] as? [String] ?? []).joined(separator: ", ")
                print(
                    "Not erased yet: a safeguarding delivery is still open (\(agencies)). The request by \(answer["requestedBy"] as? String ?? "you") is recorded; a second person in information governance must run the same command to erase it."
                )
                return
            }
            let withdrawn = (answer["withdrawn"] as? [String])?.count ?? 0
            print(
                "Referral \(id): personal data erased; \(withdrawn) deliver\(withdrawn == 1 ? "y" : "ies") not yet made withdrawn. Its ids, deliveries and audit trail are kept."
                    + ((answer["requestedBy"] as? String).map { " Asked for by \($0), approved by you." } ?? ""))
        }
    }
}

extension Switchboard.Records {
    struct Rectify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Correct the person's details in one referral, and tell every agency that has it (governance key).",
            discussion: """
                --subject is a JSON Merge Patch of the referral's subject, such as '{"familyName": "Smith"}' (null removes a \
                detail). It is validated as an amendment is; each agency that has the referral is sent the update, and \
                subject access finds the person by the corrected details. Audited with --reason.
                """)

        @OptionGroup var options: GatewayOptions

        @Argument(help: "The referral's id.")
        var id: String

        @Option(help: "The corrections, as JSON: '{\"familyName\": \"Smith\"}'.")
        var subject: String

        @Option(help: "Why: a case reference, kept in the audit trail.")
        var reason: String

        func run() async throws {
            guard Identifier.isWellFormed(id) else { throw ValidationError("'\(id)' is not a referral id.") }
            guard let patch = try? JSONSerialization.jsonObject(with: Data(subject.utf8)), patch is [String: Any] else {
                throw ValidationError("--subject must be a JSON object of the details to correct, such as '{\"familyName\": \"Smith\"}'.")
            }
            let body = try JSONSerialization.data(withJSONObject: ["reason": reason, "subject": patch])
            let client = QueueClient(options: options)
            let response = try await client.send("/v1/records/\(id)/rectify", method: "POST", json: String(decoding: body, as: UTF8.self))
            let amended = try client.decode(response, as: ReferralLoop.Amended.self)
            print(
                "Referral \(id): corrected \(amended.fields.joined(separator: ", "))"
                    + (amended.updating.isEmpty
                        ? "; no agency had it yet." : "; the update goes to \(amended.updating.map(\.rawValue).joined(separator: ", ")).")
            )
        }
    }
}
