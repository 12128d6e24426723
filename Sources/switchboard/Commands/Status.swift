import ArgumentParser
import Foundation
import ReferralModel
import Transport

extension Switchboard {
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show where a referral went: each agency's delivery state and the referral's history.")

        @OptionGroup var options: GatewayOptions

        @Flag(help: "Print the gateway's JSON answer as it is.")
        var json = false

        @Argument(help: "The referral id that submit printed.")
        var id: String

        func validate() throws {
            guard Identifier.isWellFormed(id) else {
                throw ValidationError("'\(id)' is not a referral id; ids look like 019a4f5e-7c1d-7b3e-9f20-5d8e2a6b4c10.")
            }
        }

        func run() async throws {
            let response = try await call(
                HTTPRequest(
                    url: options.baseURL + "/v1/referrals/\(id)", headers: [("Authorization", "Bearer \(try options.key())")]),
                gateway: options.baseURL)
            guard response.status == 200 else { throw reportProblem(response) }
            if json {
                print(String(decoding: response.body, as: UTF8.self))
                return
            }
            let report = try JSONDecoder().decode(ReferralReport.self, from: Data(response.body))
            print("Referral \(report.id): \(report.status.rawValue)")
            print(
                "  received \(report.receivedAt) from \(report.submittedBy); \(report.urgency.rawValue); needs \(report.needs.joined(separator: ", ")); rules \(report.rulesVersion)"
            )
            if report.status == .outOfArea {
                print("  The person lives outside the area this gateway serves: held, sent to no one. Refer them to their own area.")
            }
            print("Deliveries:")
            for delivery in report.deliveries {
                var line =
                    "  \(delivery.agency): \(delivery.state.rawValue) after \(delivery.attempts) attempt\(delivery.attempts == 1 ? "" : "s") (rule \(delivery.rule))"
                if let at = delivery.deliveredAt { line += ", delivered \(at)" }
                if let at = delivery.answeredAt { line += ", \(delivery.state.rawValue) \(at)" }
                if let reason = delivery.declineReason { line += " (\(reason.rawValue))" }
                if let deadline = delivery.deadlineAt, [.pending, .delivered].contains(delivery.state) { line += "; to be taken on by \(deadline)" }
                if let next = delivery.nextAttemptAt { line += ", next attempt \(next)" }
                if let error = delivery.lastError { line += "; last error: \(error)" }
                if !delivery.alternatives.isEmpty { line += "; if it declines: \(delivery.alternatives.joined(separator: ", "))" }
                print(line)
            }
            if let attention = report.attention {
                print("Needs attention since \(attention.since): \(attention.reason) (item \(attention.id); `switchboard attention` resolves it)")
            }
            if let notes = report.notes, !notes.isEmpty {
                print("Notes:")
                for note in notes { print("  \(note.at)  \(note.kind) by \(note.author): \(note.text)") }
            }
            print("History:")
            for entry in report.history {
                print("  \(entry.at)  \(entry.event)\(entry.agency.map { " [\($0)]" } ?? "")  \(entry.detail ?? "")")
            }
        }
    }
}
