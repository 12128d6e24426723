import APIDocuments
import ArgumentParser
import Foundation
import ReferralModel
import Routing
import Storage
import Transport
import UseCases

/// Calls to the gateway's admin API for a governed document: the rules, or the agencies.
struct RulesClient {
    let options: GatewayOptions
    var document: GovernedDocument = .rules

    /// The document's path in the API: `/v1/rules` or `/v1/agencies`.
    var base: String { "/v1/\(document.rawValue)" }

    /// The live version: its digest, stored number and text.
    func live() async throws -> (version: String, number: Int?, text: String) {
        switch document {
        case .rules:
            let live = try await get(base, as: LiveRulesDocument.self)
            return (live.version, live.number, live.text)
        case .agencies:
            let live = try await get(base, as: LiveAgenciesDocument.self)
            return (live.version, live.number, live.text)
        }
    }

    /// The version a change is made against: the one given, else the one live now.
    func version(_ ifMatch: String?) async throws -> String {
        if let ifMatch { return ifMatch }
        return try await live().version
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

    /// Prints what an apply, rollback or approval came to.
    func report(_ response: HTTPResponse, file: String?) throws {
        guard response.status == 200 else { throw reportRulesProblem(response, file: file) }
        let answer = try JSONDecoder().decode(RulesChangeResult.self, from: Data(response.body))
        if answer.applied {
            print(
                "\(document == .rules ? "Rules" : "Agencies") version \(answer.number) (\(answer.version)) is live; it replaced \(answer.previousVersion)."
            )
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
            // An agencies change names the file each problem is in (it can break the rules file).
            var name = file ?? "the file"
            var detail = issue.detail
            if let range = detail.range(of: ".yaml: "), !detail[..<range.lowerBound].contains(" ") {
                name = String(detail[..<range.lowerBound]) + ".yaml"
                detail = String(detail[range.upperBound...])
            }
            printError("\(name):\(line):\(column): error: \(detail)" + (issue.hint.map { "\n    hint: \($0)" } ?? ""))
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
