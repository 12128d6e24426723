import ArgumentParser
import Deployment
import Foundation
import ReferralModel
import Settings
import Storage
import UseCases

extension Switchboard {
    struct Directory: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "directory",
            abstract: "The postcode directory, which places postcodes in local authorities (GSS codes) for rules and coverage.",
            subcommands: [Import.self, Show.self])
    }
}

extension Switchboard.Directory {
    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import the ONS Postcode Directory's CSV file, replacing the directory in use.",
            discussion: """
                Download the ONS Postcode Directory (ONSPD) from the ONS Open Geography Portal and give its main CSV \
                file (Data/ONSPD_<MONTH>_<YEAR>_UK.csv). Terminated postcodes are left out. The running gateway uses \
                the new directory from its next referral; the import is audited.
                """)

        @OptionGroup var configuration: ConfigurationOptions

        @Option(help: "The storage URL, instead of the one in the configuration (sqlite:PATH).")
        var storage: String?

        @Argument(help: "The ONSPD CSV file.")
        var file: String

        func run() async throws {
            let store = try configuration.openStore(override: storage)
            let actor = "command line (\(NSUserName()))"
            do {
                let started = Date()
                let summary = try await PostcodeDirectoryImport(store: store).run(file: file, actor: actor)
                print(
                    "Imported \(summary.info.postcodes) postcodes in \(summary.info.localAuthorities) local authorities from \(summary.info.source) "
                        + String(format: "in %.1f s.", Date().timeIntervalSince(started)))
                if summary.terminated > 0 { print("Left out \(summary.terminated) terminated postcodes.") }
                if summary.skipped > 0 {
                    print("Skipped \(summary.skipped) rows that could not be read:")
                    for problem in summary.firstProblems { print("  \(problem)") }
                }
            } catch let failure as PostcodeDirectoryImport.Failure {
                printError("The postcode directory was not imported: \(failure.description).")
                throw ExitCode.failure
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Say which directory is in use, or which local authorities it places a postcode in.")

        @OptionGroup var configuration: ConfigurationOptions

        @Option(help: "The storage URL, instead of the one in the configuration (sqlite:PATH).")
        var storage: String?

        @Argument(help: "A postcode to look up, such as OX1 2JD.")
        var postcode: String?

        func run() async throws {
            let store = try configuration.openStore(override: storage)
            guard let info = try await store.postcodeDirectory() else {
                print("No postcode directory has been imported. Import one with: switchboard directory import ONSPD.csv")
                if postcode != nil { throw ExitCode.failure }
                return
            }
            guard let postcode else {
                print(
                    "Postcode directory \(info.source): \(info.postcodes) postcodes in \(info.localAuthorities) local authorities, "
                        + "imported \(Timestamp.string(info.importedAt)) by \(info.importedBy).")
                return
            }
            guard let normalised = Postcode.normalise(postcode) else {
                printError("'\(postcode)' is not a UK postcode; write it like OX1 2JD.")
                throw ExitCode.failure
            }
            let authorities = try await store.localAuthorities(of: normalised)
            guard !authorities.isEmpty else {
                printError("\(normalised) is not in the postcode directory (\(info.source)).")
                throw ExitCode.failure
            }
            print("\(normalised): \(authorities.sorted().joined(separator: ", "))")
        }
    }
}
