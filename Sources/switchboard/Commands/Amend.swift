import ArgumentParser
import Foundation
import ReferralModel
import Transport

extension Switchboard {
    struct Amend: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Amend a referral you sent: a JSON Merge Patch of the fields to change (a file, or - for standard input).",
            discussion: """
                For instance, to answer an agency that returned the referral for more information:
                  echo '{"reason": "…the answer…", "subject": {"phone": "01865 000333"}}' | switchboard amend ID -
                The whole referral is checked again, as when it was sent; every agency that has it is sent the update. \\
                needs, urgency, consent, safeguarding and the referring organisation cannot be amended: cancel the \\
                referral and send a new one.
                """)

        @OptionGroup var options: GatewayOptions

        @Argument(help: "The referral's id.")
        var referral: String

        @Argument(help: "The JSON Merge Patch file, or - to read standard input.")
        var file: String

        func run() async throws {
            let body: Data
            if file == "-" {
                body = FileHandle.standardInput.readDataToEndOfFile()
            } else {
                guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("Cannot read \(file): check the path.") }
                body = data
            }
            let headers: [(name: String, value: String)] = [
                ("Authorization", "Bearer \(try options.key())"), ("Content-Type", "application/merge-patch+json"), ("Accept", "application/json"),
            ]
            let response = try await call(
                HTTPRequest(url: options.baseURL + "/v1/referrals/\(referral)/amendments", method: "POST", headers: headers, body: Array(body)),
                gateway: options.baseURL)
            guard response.status == 200 else { throw reportProblem(response) }
            struct Amended: Decodable {
                var fields: [String]
                var updating: [String]
            }
            let amended = try JSONDecoder().decode(Amended.self, from: Data(response.body))
            print("Referral \(referral) amended: \(amended.fields.joined(separator: ", ")).")
            print(
                amended.updating.isEmpty
                    ? "No agency had it yet: each will receive it as amended." : "The update goes to \(amended.updating.joined(separator: ", ")).")
        }
    }
}
