import ArgumentParser
import Foundation
import ReferralModel
import Settings
import Transport
import UseCases

extension Switchboard {
    struct Keys: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make, list, revoke and rotate API keys, each for a named owner (admin key).",
            discussion: """
                A new or rotated key is printed once and stored only as its SHA-256 digest: give it to its owner \\
                there and then. Keys written in switchboard.yaml are listed too; change those in the file and send \\
                the gateway SIGHUP. Every change is audited with who made it and for whom.
                """,
            subcommands: [List.self, Create.self, Revoke.self, Rotate.self], defaultSubcommand: List.self)
    }
}

extension Switchboard.Keys {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List every key with its owner, role and state; never a key.")

        @OptionGroup var options: GatewayOptions

        func run() async throws {
            struct KeyList: Decodable { var keys: [KeyListing] }
            let client = QueueClient(options: options)
            let list = try client.decode(try await client.send("/v1/keys"), as: KeyList.self)
            for key in list.keys {
                var line = "\(key.id)  \(key.role)  \(key.state)  \(key.owner ?? "(no owner)")"
                if let organisations = key.organisations { line += "  for \(organisations.joined(separator: ", "))" }
                if let agency = key.agency { line += "  answers for \(agency)" }
                line += key.source == "configuration" ? "  [switchboard.yaml]" : "  made \(key.createdAt ?? "") by \(key.createdBy ?? "")"
                if let expires = key.expiresAt { line += "  expires \(expires)" }
                if let until = key.previousSecretUntil { line += "  old secret until \(until)" }
                print(line)
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a key for a named owner and print it, once.")

        @OptionGroup var options: GatewayOptions

        @Option(help: "Who will hold it: a person's name, or a system's (\"Botley Medical Centre EPR\").")
        var owner: String

        @Option(help: "referrer, agency, admin, operations (the queues, no referral content) or governance (subject access).")
        var role: String

        @Option(help: "Its id in lists and the audit trail (default: made up).")
        var id: String?

        @Option(name: .customLong("organisation"), help: "For a referrer key: an ODS code it may submit for (repeat for more).")
        var organisations: [String] = []

        @Option(help: "For an agency key: the agency it answers for.")
        var agency: String?

        @Option(help: "When it stops working: YYYY-MM-DD (the end of that day, UK time) or an RFC 3339 time.")
        var expires: String?

        func run() async throws {
            var body: [String: Any] = ["owner": owner, "role": role]
            if let id { body["id"] = id }
            if !organisations.isEmpty { body["organisations"] = organisations }
            if let agency { body["agency"] = agency }
            if let expires {
                guard let date = SwitchboardSettings.instant(expires) else {
                    throw ValidationError("--expires must be YYYY-MM-DD or an RFC 3339 time, such as 2027-03-31.")
                }
                body["expiresAt"] = Timestamp.string(date)
            }
            let json = String(decoding: try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys]), as: UTF8.self)
            let response = try await QueueClient(options: options).send("/v1/keys", method: "POST", json: json)
            guard response.status == 201 else { throw reportProblem(response) }
            let issued = try JSONDecoder().decode(KeyAdministration.Issued.self, from: Data(response.body))
            print(issued.key)
            printError(
                "Key \(issued.details.id) (\(issued.details.role)) for \(issued.details.owner ?? owner). This is the only time it is shown: give it to its owner now."
            )
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key: it is refused from now, on every gateway.")

        @OptionGroup var options: GatewayOptions

        @Argument(help: "The key's id, as `keys list` shows it.")
        var id: String

        func run() async throws {
            let client = QueueClient(options: options)
            let key = try client.decode(try await client.send("/v1/keys/\(try Self.path(id))/revoke", method: "POST"), as: KeyListing.self)
            print("Key \(key.id) of \(key.owner ?? "no owner") is revoked; it is refused from now.")
        }

        static func path(_ id: String) throws -> String {
            guard (3...64).contains(id.count), id.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "-" }), id.allSatisfy(\.isASCII) else {
                throw ValidationError("'\(id)' is not a key id: ids are lower-case letters, digits and hyphens, as `keys list` shows them.")
            }
            return id
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Give a key a new secret and print it, once.")

        @OptionGroup var options: GatewayOptions

        @Argument(help: "The key's id, as `keys list` shows it.")
        var id: String

        @Option(help: "Seconds the old secret still works, so its owner can switch without a gap (default 0, at most 604800).")
        var overlap: Int = 0

        func run() async throws {
            let client = QueueClient(options: options)
            let response = try await client.send(
                "/v1/keys/\(try Revoke.path(id))/rotate", method: "POST", json: #"{"overlapSeconds": \#(overlap)}"#)
            let issued = try client.decode(response, as: KeyAdministration.Issued.self)
            print(issued.key)
            let old = issued.details.previousSecretUntil.map { "the old secret works until \($0)" } ?? "the old secret is refused from now"
            printError("Key \(issued.details.id) has a new secret, shown only this once; \(old).")
        }
    }
}
