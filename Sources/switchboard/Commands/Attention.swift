import ArgumentParser
import Foundation
import ReferralModel
import Transport

extension Switchboard {
    struct Attention: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "What needs a person, most urgent first, with why and when it is due; and resolve an item by re-routing or closing the referral (admin key).",
            discussion: """
                A referral lands here when a delivery is dead-lettered, a deadline passes with nowhere left to send it, \\
                every candidate declines it, it is held (from outside the area, or no agency may receive it), or an \\
                emergency or urgent one has nobody able to act now. With no options it lists the open items: emergencies \\
                first, then urgent, then routine, the soonest due first. --reroute AGENCY sends the referral \\
                there (it must pass the consent policy, like any routing); --close REASON closes it, the reason kept as a \\
                note on the referral. Both are audited.
                """)

        @OptionGroup var options: GatewayOptions

        @Argument(help: "An item id, to resolve it.")
        var item: String?

        @Option(help: "Send the referral to this agency.")
        var reroute: String?

        @Option(help: "Close the referral, with this reason.")
        var close: String?

        func validate() throws {
            if item == nil, reroute != nil || close != nil {
                throw ValidationError("Name the item to resolve: switchboard attention ITEM --reroute AGENCY.")
            }
            if item != nil, (reroute == nil) == (close == nil) {
                throw ValidationError("Resolve an item with exactly one of --reroute AGENCY or --close REASON.")
            }
        }

        func run() async throws {
            let client = QueueClient(options: options)
            guard let item else {
                let list = try client.decode(try await client.send("/v1/attention", method: "GET"), as: AttentionListDocument.self)
                if list.items.isEmpty { print("Nothing needs attention.") }
                let now = Date()
                for entry in list.items {
                    let urgency = entry.urgency.map { $0.rawValue.uppercased() + "  " } ?? ""
                    let due = entry.dueAt.flatMap(Timestamp.parse).map { due in
                        let minutes = Int(due.timeIntervalSince(now) / 60)
                        return minutes >= 0
                            ? "  due \(entry.dueAt ?? "") (in \(minutes) min)" : "  OVERDUE since \(entry.dueAt ?? "") (\(-minutes) min)"
                    }
                    print(
                        "\(urgency)\(entry.id)  since \(entry.since)\(due ?? "")  referral \(entry.referralId)\(entry.agency.map { " [\($0)]" } ?? "")"
                    )
                    print("      \(entry.reason)")
                }
                return
            }
            let body: [String: String] = reroute.map { ["action": "reroute", "agency": $0] } ?? ["action": "close", "reason": close ?? ""]
            let resolved = try client.decode(
                try await client.send(
                    "/v1/attention/\(item)/resolve", method: "POST", json: String(decoding: try JSONEncoder().encode(body), as: UTF8.self)),
                as: AttentionItem.self)
            print("Item \(resolved.id) resolved: \(resolved.resolution ?? "")")
        }
    }
}

/// `GET /v1/attention`, as the command line reads it.
struct AttentionListDocument: Decodable {
    var items: [AttentionItem]
}
