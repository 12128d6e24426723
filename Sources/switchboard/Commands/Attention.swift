import ArgumentParser
import Foundation
import ReferralModel
import Transport

extension Switchboard {
    struct Attention: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "What needs a person, oldest first, with why; and resolve an item by re-routing or closing the referral (admin key).",
            discussion: """
                A referral lands here when a delivery is dead-lettered, a deadline passes with nowhere left to send it, or \\
                every candidate declines it. With no options it lists the open items. --reroute AGENCY sends the referral \\
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
                for entry in list.items {
                    print("\(entry.id)  since \(entry.since)  referral \(entry.referralId)\(entry.agency.map { " [\($0)]" } ?? "")")
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
