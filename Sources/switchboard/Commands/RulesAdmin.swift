import ArgumentParser
import Foundation
import ReferralModel
import Routing
import Storage
import Transport
import UseCases

/// Calls to the gateway's admin rules API.
struct RulesClient {
    let options: GatewayOptions

    func live() async throws -> LiveRulesDocument {
        try await get("/v1/rules", as: LiveRulesDocument.self)
    }

    func get<Answer: Decodable>(_ path: String, as: Answer.Type) async throws -> Answer {
        let response = try await send(path, method: "GET", headers: [], body: [])
        guard response.status == 200 else { throw reportRulesProblem(response, file: nil) }
        return try JSONDecoder().decode(Answer.self, from: Data(response.body))
    }

    func send(_ path: String, method: String, headers: [(name: String, value: String)], body: [UInt8]) async throws -> HTTPResponse {
        try await call(
            HTTPRequest(
                url: options.baseURL + path, method: method,
                headers: [("Authorization", "Bearer \(try options.key())"), ("Accept", "application/json")] + headers, body: body),
            gateway: options.baseURL)
    }

    /// Prints what an apply or rollback came to.
    func report(_ response: HTTPResponse, file: String?) throws {
        guard response.status == 200 else { throw reportRulesProblem(response, file: file) }
        let answer = try JSONDecoder().decode(RulesChangeResult.self, from: Data(response.body))
        if answer.applied {
            print("Rules version \(answer.number) (\(answer.version)) is live; it replaced \(answer.previousVersion).")
            print("  \(answer.summary)")
        } else {
            print("No change: \(answer.version) is already live (version \(answer.number)).")
        }
    }
}

/// Prints a problem from the rules API: rules problems as `file:line:column: error:` lines.
func reportRulesProblem(_ response: HTTPResponse, file: String?) -> ExitCode {
    guard let problem = try? JSONDecoder().decode(Problem.self, from: Data(response.body)) else {
        printError("The gateway answered HTTP \(response.status).")
        return ExitCode.failure
    }
    printError("\(problem.title) (HTTP \(problem.status)): \(problem.detail)")
    for issue in problem.errors ?? [] {
        if let line = issue.line, let column = issue.column {
            printError("\(file ?? "rules"):\(line):\(column): error: \(issue.detail)" + (issue.hint.map { "\n    hint: \($0)" } ?? ""))
        } else {
            printError("  \(issue.pointer.isEmpty ? "(body)" : issue.pointer): \(issue.detail)")
        }
    }
    return ExitCode.failure
}

func readRulesFile(_ path: String) throws -> String {
    guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
        throw ValidationError("Cannot read \(path) as UTF-8 text: check the path.")
    }
    return text
}

extension Switchboard.Rules {
    struct Diff: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show what a rules file would change against the gateway's live rules: rules added, removed and changed by id, then the text.")

        @OptionGroup var options: GatewayOptions

        @Argument(help: "The proposed rules file.")
        var file: String

        func run() async throws {
            let proposed = try readRulesFile(file)
            let live = try await RulesClient(options: options).live()
            let change = RulesChange(from: live.text, to: proposed, oldName: "live \(live.version)", newName: file)
            if change.isEmpty {
                print("\(file) is the live rules (\(live.version)); applying it would change nothing.")
                return
            }
            print("Against the live rules \(live.version)\(live.number.map { " (version \($0))" } ?? ""): \(change.summary)")
            print(change.lineDiff, terminator: "")
            print("Apply exactly this change with: switchboard rules apply \(file) --if-match \(live.version)")
        }
    }

    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Make a rules file live through the gateway: it is validated in full, stored as a new version, audited with the change, and swapped in without dropping a referral."
        )

        @OptionGroup var options: GatewayOptions

        @Option(
            name: .customLong("if-match"),
            help: "Apply only if this is still the live version (as `rules diff` printed); default: the version live when this command starts.")
        var ifMatch: String?

        @Argument(help: "The rules file to make live.")
        var file: String

        func run() async throws {
            let text = try readRulesFile(file)
            let client = RulesClient(options: options)
            let expected: String
            if let ifMatch { expected = ifMatch } else { expected = try await client.live().version }
            let response = try await client.send(
                "/v1/rules", method: "PUT", headers: [("Content-Type", "application/yaml"), ("If-Match", "\"\(expected)\"")], body: Array(text.utf8))
            try client.report(response, file: file)
        }
    }

    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the stored rules versions, newest first: who applied each, when, how, and what it changed.")

        @OptionGroup var options: GatewayOptions

        func run() async throws {
            let client = RulesClient(options: options)
            let live = try await client.live()
            let versions = try await client.get("/v1/rules/versions", as: RulesVersionList.self).versions
            for version in versions {
                let marker = version.number == live.number ? "*" : " "
                print("\(marker) \(version.number)  \(version.version)  \(version.appliedAt)  \(version.appliedBy) (\(version.source))")
                print("      \(version.summary)")
            }
            print("* is live. Roll back with: switchboard rules rollback N")
        }
    }

    struct Rollback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a stored rules version live again. It is validated against today's agencies and recorded as a new version.")

        @OptionGroup var options: GatewayOptions

        @Option(
            name: .customLong("if-match"),
            help: "Roll back only if this is still the live version; default: the version live when this command starts.")
        var ifMatch: String?

        @Argument(help: "The version number, as `rules history` lists it.")
        var number: Int

        func validate() throws {
            guard number >= 1 else { throw ValidationError("Versions are numbered from 1; `switchboard rules history` lists them.") }
        }

        func run() async throws {
            let client = RulesClient(options: options)
            let expected: String
            if let ifMatch { expected = ifMatch } else { expected = try await client.live().version }
            let response = try await client.send(
                "/v1/rules/rollback", method: "POST", headers: [("Content-Type", "application/json"), ("If-Match", "\"\(expected)\"")],
                body: Array("{\"version\":\(number)}".utf8))
            try client.report(response, file: "version \(number)")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the live rules text, or a stored version's.")

        @OptionGroup var options: GatewayOptions

        @Argument(help: "A version number from `rules history` (default: the live rules).")
        var number: Int?

        @Flag(help: "Print what the version changed (its diff against the version before it) instead of its text.")
        var diff = false

        func validate() throws {
            if diff, number == nil { throw ValidationError("--diff needs a version number: switchboard rules show N --diff.") }
        }

        func run() async throws {
            let client = RulesClient(options: options)
            if let number {
                let version = try await client.get("/v1/rules/versions/\(number)", as: RulesVersionDocument.self)
                let record = version.record
                if diff {
                    print(
                        "Version \(record.number) (\(record.version)), applied \(record.appliedAt) by \(record.appliedBy) (\(record.source)): \(record.summary)"
                    )
                    print(version.diff, terminator: "")
                } else {
                    print(record.text ?? "", terminator: "")
                }
            } else {
                print(try await client.live().text, terminator: "")
            }
        }
    }
}
