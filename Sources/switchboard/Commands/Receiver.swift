import ArgumentParser
import Delivery
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

extension Switchboard {
    struct Receiver: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A reference agency endpoint: prints each referral it receives and verifies its signature.",
            discussion: """
                Agencies run it to see exactly what Switchboard will send them. With --secret-env, deliveries \
                whose Standard Webhooks signature does not verify are refused with 401. A delivery id seen \
                before is acknowledged again but reported as a duplicate.
                """)

        @Option(help: "The port to listen on (required unless --new-secret).")
        var port: Int?

        @Option(help: "The address to listen on.")
        var host = "127.0.0.1"

        @Option(name: .customLong("secret-env"), help: "The environment variable holding the agency's whsec_ signing secret.")
        var secretEnv: String?

        @Option(help: "Answer every delivery with this HTTP status (to see how Switchboard handles refusals).")
        var status = 202

        @Option(
            name: .customLong("delay-ms"),
            help: "Answer each delivery this many milliseconds after it arrives (to see how Switchboard handles a slow agency).")
        var delayMilliseconds = 0

        @Flag(help: "Print one JSON object a line instead of a readable summary.")
        var json = false

        @Flag(name: .customLong("new-secret"), help: "Print a new random whsec_ secret and exit.")
        var newSecret = false

        func validate() throws {
            guard newSecret || (1...65535).contains(port ?? 0) else {
                throw ValidationError("--port is required and must be between 1 and 65535.")
            }
            guard (200...599).contains(status) else { throw ValidationError("--status must be an HTTP status from 200 to 599.") }
            guard (0...600_000).contains(delayMilliseconds) else { throw ValidationError("--delay-ms must be from 0 to 600000.") }
        }

        func run() async throws {
            if newSecret {
                print(WebhookSigner.generateSecret())
                return
            }
            var configuredSigner: WebhookSigner?
            if let secretEnv {
                guard let secret = ProcessInfo.processInfo.environment[secretEnv] else {
                    throw ValidationError("Environment variable \(secretEnv) is not set.")
                }
                guard let parsed = WebhookSigner(secret: secret) else {
                    throw ValidationError("\(secretEnv) does not hold a whsec_ secret (whsec_ followed by base64).")
                }
                configuredSigner = parsed
            }
            let signer = configuredSigner
            let seen = Mutex<Set<String>>([])
            // Deliveries being answered now, by webhook-id: one arriving while it is already in
            // hand is an overlap (two senders at once), which a queue's leases must never allow.
            let inHand = Mutex<[String: Int]>([:])
            let counter = Atomic<Int>(0)
            let json = json
            let status = status
            let delay = delayMilliseconds
            let router = Router()
            let handler: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
                let body = Array(try await request.body.collect(upTo: 4 << 20).readableBytesView)
                let id = request.headers[HTTPField.Name("webhook-id")!]
                var verified: Bool?
                var failure: String?
                if let signer {
                    do {
                        try signer.verify(
                            id: id, timestamp: request.headers[HTTPField.Name("webhook-timestamp")!],
                            signatures: request.headers[HTTPField.Name("webhook-signature")!], body: body)
                        verified = true
                    } catch {
                        verified = false
                        failure = "\(error)"
                    }
                }
                let duplicate = id.map { key in seen.withLock { !$0.insert(key).inserted } } ?? false
                let overlap =
                    id.map { key in
                        inHand.withLock { hands in
                            hands[key, default: 0] += 1
                            return hands[key, default: 0] > 1
                        }
                    } ?? false
                defer { if let id { inHand.withLock { $0[id, default: 1] -= 1 } } }
                let answer = verified == false ? 401 : status
                let number = counter.add(1, ordering: .relaxed).newValue
                let parsed = try? JSONSerialization.jsonObject(with: Data(body))
                if json {
                    var line: [String: Any] = [
                        "webhookId": id ?? NSNull(), "path": request.uri.path, "status": answer, "duplicate": duplicate, "overlap": overlap,
                        "body": parsed ?? String(decoding: body, as: UTF8.self),
                    ]
                    if let verified { line["verified"] = verified }
                    if let failure { line["failure"] = failure }
                    let data = try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys, .withoutEscapingSlashes])
                    emit(String(decoding: data, as: UTF8.self))
                } else {
                    let signature = verified.map { $0 ? "signature verified" : "SIGNATURE REJECTED (\(failure ?? ""))" } ?? "signature not checked"
                    emit(
                        "[\(number)] delivery \(id ?? "(no webhook-id)") on \(request.uri.path): \(signature)\(duplicate ? "; DUPLICATE, already received" : "")\(overlap ? "; OVERLAP, the same delivery is in hand" : ""); answering \(answer)"
                    )
                    if let parsed,
                        let pretty = try? JSONSerialization.data(
                            withJSONObject: parsed, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
                    {
                        emit(String(decoding: pretty, as: UTF8.self))
                    }
                }
                if delay > 0 { try await Task.sleep(for: .milliseconds(delay)) }
                let reply = (200..<300).contains(answer) ? "{\"reference\":\"RCV-\(number)\"}" : "{\"error\":\"HTTP \(answer)\"}"
                return Response(
                    status: .init(code: answer), headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: ByteBuffer(string: reply)))
            }
            router.post("/", use: handler)
            router.post("**", use: handler)
            var logger = Logger(label: "switchboard-receiver")
            logger.logLevel = .warning
            let host = host
            let app = Application(
                router: router, configuration: .init(address: .hostname(host, port: port ?? 0)),
                onServerRunning: { channel in
                    FileHandle.standardError.write(Data("Receiver listening on http://\(host):\(channel.localAddress?.port ?? 0)\n".utf8))
                },
                logger: logger)
            try await app.runService()
        }
    }
}
