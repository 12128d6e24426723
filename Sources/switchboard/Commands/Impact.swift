import ArgumentParser
import Foundation
import UseCases

/// `switchboard rules impact FILE` and `switchboard agencies impact FILE`: what a proposed file
/// would have done to the referrals of a recent period, from the gateway's admin API.
struct ImpactCommand<Kind: GovernedKind>: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "impact",
            abstract:
                "Replay the referrals of recent days through a proposed \(Kind.document.fileName) and show what would change: per agency the referrals gained and lost, and the outcomes that change, with referral ids.",
            discussion: """
                Each referral the gateway stored in the period is routed again as it was received, by the live \(Kind.name) and by \
                the proposed file, and the two are compared. Nothing is stored or sent, and no free text is shown. The console's \
                editor and approval page show the same.
                """)
    }

    @OptionGroup var options: GatewayOptions

    @Option(help: "How far back to replay: days, as 30d or 30 (1 to 366; default 30d).")
    var since = "30d"

    @Argument(help: "The proposed file.")
    var file: String

    func run() async throws {
        let digits = since.hasSuffix("d") ? String(since.dropLast()) : since
        guard let days = Int(digits), (1...366).contains(days) else {
            throw ValidationError("--since must be a number of days from 1 to 366, such as 30d.")
        }
        let text = try readRulesFile(file)
        let response = try await Kind.client(options).send(
            "/v1/\(Kind.name)/impact?days=\(days)", method: "POST", headers: [("Content-Type", "application/yaml")], body: Array(text.utf8))
        guard response.status == 200 else { throw reportRulesProblem(response, file: file) }
        let impact = try JSONDecoder().decode(ChangeImpact.self, from: Data(response.body))
        print(impact.text(proposal: file))
    }
}

extension ChangeImpact {
    /// The impact as an administrator reads it at a terminal.
    func text(proposal: String) -> String {
        var lines = [
            "Replayed \(referrals) referrals received \(from) to \(to) through \(proposal): \(changed) would be routed differently."
        ]
        func line(_ name: String, _ before: Int, _ after: Int, up: (String, Int, [String]), down: (String, Int, [String])) -> String {
            var line = "  \(name): \(before) → \(after)"
            for (word, count, examples) in [up, down] where count > 0 { line += "; \(word) \(count) (\(examples.joined(separator: ", ")))" }
            return line
        }
        let moved = agencies.filter { $0.gained > 0 || $0.lost > 0 }
        lines.append(moved.isEmpty ? "No agency gains or loses a referral." : "Agencies (referrals now → with the change):")
        lines += moved.map {
            line($0.agency, $0.before, $0.after, up: ("gains", $0.gained, $0.gainedExamples), down: ("loses", $0.lost, $0.lostExamples))
        }
        let changing = outcomes.filter { $0.entering > 0 || $0.leaving > 0 }
        if !changing.isEmpty { lines.append("Outcomes:") }
        lines += changing.map {
            line($0.outcome, $0.before, $0.after, up: ("gains", $0.entering, $0.enteringExamples), down: ("loses", $0.leaving, $0.leavingExamples))
        }
        return lines.joined(separator: "\n")
    }
}
