import AdapterKit
import ArgumentParser
import Deployment
import Foundation
import ReferralModel

extension Switchboard {
    struct Adapters: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the agency adapters this build has, or show what an agency will be sent.",
            subcommands: [List.self, Render.self], defaultSubcommand: List.self)
    }
}

/// Reads and validates a referral file (or standard input for `-`) as the gateway would, printing
/// every problem and exiting non-zero when it is not valid.
func readReferral(_ file: String, vocabulary: NeedsVocabulary, today: String) throws -> Referral {
    let data = file == "-" ? FileHandle.standardInput.readDataToEndOfFile() : FileManager.default.contents(atPath: file)
    guard let data else { throw ValidationError("Cannot read \(file).") }
    do {
        return try ReferralDecoder(vocabulary: vocabulary).decode(data, today: today)
    } catch .syntax(let error) {
        printError(error.description)
        throw ExitCode.failure
    } catch .invalid(let failure) {
        printError("The referral is not valid:")
        for issue in failure.issues { printError("  \(issue)") }
        throw ExitCode.failure
    }
}

extension Switchboard.Adapters {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the adapters and their options.")

        func run() async throws {
            for adapter in AdapterCatalogue.registry.all {
                print("\(adapter.name)\n    \(adapter.summary)")
                if adapter.optionSpecs.isEmpty { print("    options: none") }
                for spec in adapter.optionSpecs {
                    print("    \(spec.name) (\(spec.type.description)\(spec.required ? ", required" : "")): \(spec.summary)")
                }
            }
            print(
                "Every agency may also list fields to `withhold`: \(ReferralField.allCases.filter { !ReferralField.essential.contains($0) }.map(\.path).joined(separator: ", "))."
            )
        }
    }

    struct Render: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the request an agency would be sent for a referral, exactly as its adapter renders it (unsigned).")

        @OptionGroup var configuration: ConfigurationOptions

        @Flag(help: "Print only the body.")
        var bodyOnly = false

        @Option(
            help: ArgumentHelp(
                "Render a notice about the referral instead: referral.updated (an amendment), referral.cancelled or referral.withdrawn.",
                valueName: "type"))
        var notice: String?

        @Argument(help: "The agency id.")
        var agency: String

        @Argument(help: "A referral JSON file, or - for standard input.")
        var file: String

        func run() async throws {
            let configuration = try self.configuration.load()
            guard let adapter = configuration.adapters[AgencyID(agency)], let entry = configuration.agencies[AgencyID(agency)] else {
                throw ValidationError(
                    "No agency '\(agency)'; the configuration has \(configuration.agencies.agencies.map(\.id).joined(separator: ", ")).")
            }
            let referral = try readReferral(file, vocabulary: configuration.settings.vocabulary, today: CalendarDate.string(from: Date()))
            let context = DeliveryContext(
                deliveryId: Identifier.make(), referralId: Identifier.make(), agencyId: agency, rule: "render", receivedAt: Date(),
                withheld: entry.withhold)
            let seen = referral.withholding(entry.withhold)
            let request: OutboundRequest
            switch notice {
            case nil:
                request = try adapter.render(seen, context: context)
            case "referral.updated":
                request = try adapter.renderUpdate(
                    seen, notice: ReferralNotice(type: "referral.updated", about: context.deliveryId), context: context)
            case "referral.cancelled", "referral.withdrawn":
                request = try adapter.renderNotice(ReferralNotice(type: notice!, about: context.deliveryId), referral: seen, context: context)
            default:
                throw ValidationError("--notice must be referral.updated, referral.cancelled or referral.withdrawn.")
            }
            if !bodyOnly {
                print("\(request.method) \(entry.endpoint)\(request.path)")
                print("Content-Type: \(request.contentType)")
                for header in request.headers { print("\(header.name): \(header.value)") }
                print("")
            }
            print(String(decoding: request.body, as: UTF8.self))
        }
    }
}
