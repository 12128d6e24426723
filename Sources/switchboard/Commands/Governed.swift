import APIDocuments
import ArgumentParser
import Foundation
import ReferralModel
import Routing
import Storage
import UseCases

/// The commands the rules and the agencies share: both are governed documents, changed through
/// the gateway's admin API with the same diff, apply, history, rollback and show, and, where the
/// deployment requires approval, propose, proposals, approve and reject.
protocol GovernedKind {
    static var document: GovernedDocument { get }
}

enum RulesKind: GovernedKind { static var document: GovernedDocument { .rules } }
enum AgenciesKind: GovernedKind { static var document: GovernedDocument { .agencies } }

extension GovernedKind {
    static var name: String { document.rawValue }
    static func client(_ options: GatewayOptions) -> RulesClient { RulesClient(options: options, document: document) }
}

struct DiffCommand<Kind: GovernedKind>: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "diff",
            abstract:
                "Show what a \(Kind.document.fileName) would change against the gateway's live \(Kind.name): entries added, removed and changed by id, then the text."
        )
    }

    @OptionGroup var options: GatewayOptions

    @Argument(help: "The proposed file.")
    var file: String

    func run() async throws {
        let proposed = try readRulesFile(file)
        let live = try await Kind.client(options).live()
        let change = RulesChange(from: live.text, to: proposed, oldName: "live \(live.version)", newName: file, list: Kind.name)
        if change.isEmpty {
            print("\(file) is the live \(Kind.name) (\(live.version)); applying it would change nothing.")
            return
        }
        print("Against the live \(Kind.name) \(live.version)\(live.number.map { " (version \($0))" } ?? ""): \(change.summary)")
        print(change.lineDiff, terminator: "")
        print("Apply exactly this change with: switchboard \(Kind.name) apply \(file) --if-match \(live.version)")
    }
}

struct ApplyCommand<Kind: GovernedKind>: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "apply",
            abstract:
                "Make a \(Kind.document.fileName) live through the gateway: validated in full, stored as a new version, audited with the change, and swapped in without dropping a referral."
        )
    }

    @OptionGroup var options: GatewayOptions

    @Option(
        name: .customLong("if-match"),
        help: "Apply only if this is still the live version (as `diff` printed); default: the version live when this command starts.")
    var ifMatch: String?

    @Argument(help: "The file to make live.")
    var file: String

    func run() async throws {
        let text = try readRulesFile(file)
        let client = Kind.client(options)
        let expected = try await client.version(ifMatch)
        let response = try await client.send(
            client.base, method: "PUT", headers: [("Content-Type", "application/yaml"), ("If-Match", "\"\(expected)\"")], body: Array(text.utf8))
        try client.report(response, file: file)
    }
}

struct HistoryCommand<Kind: GovernedKind>: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "history",
            abstract: "List the stored \(Kind.name) versions, newest first: who applied each, when, how, and what it changed.")
    }

    @OptionGroup var options: GatewayOptions

    func run() async throws {
        let client = Kind.client(options)
        let live = try await client.live()
        let versions = try await client.get("\(client.base)/versions", as: RulesVersionList.self).versions
        for version in versions {
            let marker = version.number == live.number ? "*" : " "
            print("\(marker) \(version.number)  \(version.version)  \(version.appliedAt)  \(version.appliedBy) (\(version.source))")
            print("      \(version.summary)")
        }
        print("* is live. Roll back with: switchboard \(Kind.name) rollback N")
    }
}

struct RollbackCommand<Kind: GovernedKind>: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "rollback",
            abstract: "Make a stored \(Kind.name) version live again. It is validated against today's configuration and recorded as a new version.")
    }

    @OptionGroup var options: GatewayOptions

    @Option(
        name: .customLong("if-match"), help: "Roll back only if this is still the live version; default: the version live when this command starts.")
    var ifMatch: String?

    @Argument(help: "The version number, as `history` lists it.")
    var number: Int

    func validate() throws {
        guard number >= 1 else { throw ValidationError("Versions are numbered from 1; `switchboard \(Kind.name) history` lists them.") }
    }

    func run() async throws {
        let client = Kind.client(options)
        let expected = try await client.version(ifMatch)
        let response = try await client.send(
            "\(client.base)/rollback", method: "POST", headers: [("Content-Type", "application/json"), ("If-Match", "\"\(expected)\"")],
            body: Array("{\"version\":\(number)}".utf8))
        if response.status == 201 {
            // Where changes need a second administrator's approval, going back is proposed.
            let document = try JSONDecoder().decode(ProposalDocument.self, from: Data(response.body))
            print("Going back to version \(number) is proposed as \(document.proposal.id): \(document.proposal.summary)")
            print(document.diff, terminator: "")
            print("Another administrator approves it with: switchboard \(Kind.name) approve \(document.proposal.id)")
            return
        }
        try client.report(response, file: "version \(number)")
    }
}

struct ShowCommand<Kind: GovernedKind>: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: "show", abstract: "Print the live \(Kind.name) text, or a stored version's.")
    }

    @OptionGroup var options: GatewayOptions

    @Argument(help: "A version number from `history` (default: the live text).")
    var number: Int?

    @Flag(help: "Print what the version changed (its diff against the version before it) instead of its text.")
    var diff = false

    func validate() throws {
        if diff, number == nil { throw ValidationError("--diff needs a version number: switchboard \(Kind.name) show N --diff.") }
    }

    func run() async throws {
        let client = Kind.client(options)
        guard let number else {
            print(try await client.live().text, terminator: "")
            return
        }
        let version = try await client.get("\(client.base)/versions/\(number)", as: RulesVersionDocument.self)
        let record = version.record
        if diff {
            print(
                "Version \(record.number) (\(record.version)), applied \(record.appliedAt) by \(record.appliedBy) (\(record.source)): \(record.summary)"
            )
            print(version.diff, terminator: "")
        } else {
            print(record.text ?? "", terminator: "")
        }
    }
}
