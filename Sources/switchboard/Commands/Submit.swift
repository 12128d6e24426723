import ArgumentParser
import Foundation
import ReferralModel
import Transport

extension Switchboard {
    struct Submit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Submit a referral (a JSON file, or - for standard input) and show where it was routed.")

        @OptionGroup var options: GatewayOptions

        @Option(name: .customLong("idempotency-key"), help: "Send this Idempotency-Key so a retried submission is not stored twice.")
        var idempotencyKey: String?

        @Argument(help: "The referral JSON file, or - to read standard input.")
        var file: String

        func run() async throws {
            let body: Data
            if file == "-" {
                body = FileHandle.standardInput.readDataToEndOfFile()
            } else {
                guard let data = FileManager.default.contents(atPath: file) else {
                    throw ValidationError("Cannot read \(file): check the path.")
                }
                body = data
            }
            var headers: [(name: String, value: String)] = [
                ("Authorization", "Bearer \(try options.key())"), ("Content-Type", "application/json"), ("Accept", "application/json"),
            ]
            if let idempotencyKey { headers.append(("Idempotency-Key", idempotencyKey)) }
            let response = try await call(
                HTTPRequest(url: options.baseURL + "/v1/referrals", method: "POST", headers: headers, body: Array(body)),
                gateway: options.baseURL)
            guard response.status == 202 else { throw reportProblem(response) }
            let receipt = try JSONDecoder().decode(SubmissionReceipt.self, from: Data(response.body))
            let replayed = response.header("Idempotent-Replayed") == "true" ? " (already submitted with this Idempotency-Key)" : ""
            print("Referral \(receipt.id) accepted\(replayed); rules \(receipt.rulesVersion).")
            for route in receipt.routes {
                print("  -> \(route.agency)  by rule \(route.rule)  delivery \(route.deliveryId)")
            }
            if receipt.status == .outOfArea {
                print("  The person lives outside the area this gateway serves: held, sent to no one. Refer them to their own area.")
            }
            print("Follow it with: switchboard status \(receipt.id)")
        }
    }
}

/// Sends a request to the gateway, turning a transport failure into a sentence.
func call(_ request: HTTPRequest, gateway: String) async throws -> HTTPResponse {
    let result: Result<HTTPResponse, TransportError> = await CurlTransport.withRunning { transport in
        do throws(TransportError) {
            return .success(try await transport.send(request))
        } catch {
            return .failure(error)
        }
    }
    switch result {
    case .success(let response):
        return response
    case .failure(let error):
        printError("Could not reach the gateway at \(gateway): \(error.message). Is `switchboard serve` running?")
        throw ExitCode.failure
    }
}

/// Prints a problem+json answer as sentences and returns the exit code to leave with.
func reportProblem(_ response: HTTPResponse) -> ExitCode {
    if let problem = try? JSONDecoder().decode(Problem.self, from: Data(response.body)) {
        printError("\(problem.title) (HTTP \(problem.status)): \(problem.detail)")
        for issue in problem.errors ?? [] {
            printError("  \(issue.pointer.isEmpty ? "(body)" : issue.pointer): \(issue.detail)")
        }
    } else {
        printError("The gateway answered HTTP \(response.status).")
    }
    return ExitCode.failure
}
