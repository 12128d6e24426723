import ArgumentParser
import Foundation
import ReferralModel
import Settings
import Transport
import UseCases

extension Switchboard {
    struct Queue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "See each agency's delivery queue, replay dead letters, pause and resume an agency (admin key).",
            discussion: """
                With no subcommand, lists every agency: pending, due now, in flight, scheduled for a later attempt,
                dead-lettered, the oldest pending referral's age, its circuit and whether it is paused or disabled.
                """,
            subcommands: [Show.self, Dead.self, Retry.self, Pause.self, Resume.self], defaultSubcommand: Show.self)
    }
}

/// Calls to the gateway's admin queue API.
struct QueueClient {
    let options: GatewayOptions

    func send(_ path: String, method: String = "GET", json: String? = nil) async throws -> HTTPResponse {
        var headers: [(name: String, value: String)] = [("Authorization", "Bearer \(try options.key())"), ("Accept", "application/json")]
        if json != nil { headers.append(("Content-Type", "application/json")) }
        return try await call(
            HTTPRequest(url: options.baseURL + path, method: method, headers: headers, body: Array((json ?? "").utf8)), gateway: options.baseURL)
    }

    func decode<Answer: Decodable>(_ response: HTTPResponse, as: Answer.Type) throws -> Answer {
        guard response.status == 200 else { throw reportProblem(response) }
        return try JSONDecoder().decode(Answer.self, from: Data(response.body))
    }
}

func checkAgencyId(_ agency: String) throws {
    guard isIdentifier(agency) else {
        throw ValidationError("'\(agency)' is not an agency id: ids are lower-case letters, digits and hyphens, as in agencies.yaml.")
    }
}

/// A JSON string literal for `text`.
private func quoted(_ text: String) -> String {
    String(decoding: (try? JSONEncoder().encode(text)) ?? Data("\"\"".utf8), as: UTF8.self)
}

func describe(_ agency: AgencyQueue) -> String {
    var status = agency.status.rawValue
    if let paused = agency.paused { status += " by \(paused.by) at \(paused.at)" + (paused.reason.isEmpty ? "" : ": \(paused.reason)") }
    if let disabled = agency.disabled { status += " at \(disabled.at): \(disabled.reason)" }
    if agency.circuit != .closed { status += "; circuit \(agency.circuit.rawValue)" + (agency.probeAt.map { ", probe at \($0)" } ?? "") }
    return status
}

private func age(_ seconds: Int?) -> String {
    guard let seconds else { return "-" }
    if seconds < 120 { return "\(seconds)s" }
    if seconds < 7_200 { return "\(seconds / 60)m" }
    if seconds < 172_800 { return "\(seconds / 3_600)h" }
    return "\(seconds / 86_400)d"
}

extension Switchboard.Queue {
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "List every agency's queue (the default).")

        @OptionGroup var options: GatewayOptions

        func run() async throws {
            let client = QueueClient(options: options)
            let overview = try client.decode(try await client.send("/v1/queue"), as: QueueOverview.self)
            let width = max(6, overview.agencies.map(\.agency.rawValue.count).max() ?? 6)
            func pad(_ text: String, _ count: Int) -> String { text.padding(toLength: max(count, text.count), withPad: " ", startingAt: 0) }
            print("\(pad("AGENCY", width))  PENDING  DUE  IN-FLIGHT  SCHEDULED  DEAD  OLDEST  STATUS")
            for agency in overview.agencies {
                let figures = [agency.pending, agency.due, agency.inFlight, agency.scheduled, agency.deadLettered]
                let columns = zip(figures, [7, 3, 9, 9, 4]).map { figure, width in
                    String(repeating: " ", count: max(0, width - String(figure).count)) + String(figure)
                }
                print(
                    "\(pad(agency.agency.rawValue, width))  \(columns.joined(separator: "  "))  \(pad(age(agency.oldestPendingSeconds), 6))  \(describe(agency))"
                )
            }
            if overview.agencies.contains(where: { $0.deadLettered > 0 }) {
                print("Dead letters: switchboard queue dead [--agency ID]; replay: switchboard queue retry --agency ID")
            }
        }
    }

    struct Dead: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List dead-lettered deliveries, newest first, with the reason each gave up.")

        @OptionGroup var options: GatewayOptions

        @Option(help: "Only this agency's.")
        var agency: String?

        @Option(help: "At most this many (1 to 1000).")
        var limit = 100

        func run() async throws {
            let client = QueueClient(options: options)
            var query = "?limit=\(limit)"
            if let agency { query += "&agency=\(agency.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }
            let list = try client.decode(try await client.send("/v1/queue/dead" + query), as: DeadLetterList.self)
            if list.deadLetters.isEmpty { print("No dead letters" + (agency.map { " for \($0)" } ?? "") + ".") }
            for letter in list.deadLetters {
                print("\(letter.deliveryId)  \(letter.agency)  referral \(letter.referralId)  \(letter.deadLetteredAt ?? "")")
                print("    after \(letter.attempts) attempts: \(letter.reason)")
                if let reply = letter.agencyReply {
                    // On one line, without control characters: the text is the agency's.
                    let line = String(reply.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : Character($0) })
                    print("    the agency answered: \(line.prefix(300))\(line.count > 300 ? "…" : "")")
                }
            }
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Put dead letters back in the queue, each once: named deliveries, or an agency's (since a time).")

        @OptionGroup var options: GatewayOptions

        @Argument(help: "Delivery ids, as `queue dead` lists them.")
        var deliveries: [String] = []

        @Option(help: "Replay this agency's dead letters instead.")
        var agency: String?

        @Option(help: "With --agency: only those dead-lettered at or after this RFC 3339 time, such as 2026-11-25T09:00:00Z.")
        var since: String?

        func validate() throws {
            guard deliveries.isEmpty != (agency == nil) else {
                throw ValidationError("Name delivery ids, or --agency ID, but not both.")
            }
            if since != nil, agency == nil { throw ValidationError("--since goes with --agency.") }
        }

        func run() async throws {
            let client = QueueClient(options: options)
            let body: String
            if let agency {
                body = "{\"agency\":\(quoted(agency))" + (since.map { ",\"since\":\(quoted($0))" } ?? "") + "}"
            } else {
                body = "{\"deliveries\":[\(deliveries.map(quoted).joined(separator: ","))]}"
            }
            let result = try client.decode(try await client.send("/v1/queue/retry", method: "POST", json: body), as: RequeueResult.self)
            print(result.requeued.isEmpty ? "Nothing to replay: no matching dead letters." : "Requeued \(result.requeued.count):")
            for id in result.requeued { print("  \(id)") }
        }
    }

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pause deliveries to an agency for a planned outage; its jobs wait without using attempts until resumed.")

        @OptionGroup var options: GatewayOptions

        @Option(help: "The agency's id.")
        var agency: String

        func validate() throws { try checkAgencyId(agency) }

        @Option(help: "Why, in a line (never personal data), for example \"case system upgrade until 18:00\".")
        var reason: String?

        func run() async throws {
            let client = QueueClient(options: options)
            let body = reason.map { "{\"reason\":\(quoted($0))}" } ?? "{}"
            let answer = try client.decode(
                try await client.send("/v1/agencies/\(agency)/pause", method: "POST", json: body), as: AgencyQueue.self)
            print("\(answer.agency): \(describe(answer)); \(answer.pending) pending. Resume with: switchboard queue resume --agency \(answer.agency)")
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Resume deliveries to a paused or disabled agency; its circuit closes and its jobs are due at once.")

        @OptionGroup var options: GatewayOptions

        @Option(help: "The agency's id.")
        var agency: String

        func validate() throws { try checkAgencyId(agency) }

        func run() async throws {
            let client = QueueClient(options: options)
            let answer = try client.decode(
                try await client.send("/v1/agencies/\(agency)/resume", method: "POST", json: "{}"), as: AgencyQueue.self)
            print("\(answer.agency): \(describe(answer)); \(answer.pending) pending.")
        }
    }
}
