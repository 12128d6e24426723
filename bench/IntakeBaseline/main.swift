// Baselines for the intake benchmark, measured in the same run as the gateway:
//   plain   POST -> read the body -> 202. What Hummingbird costs with nothing else.
//   decode  POST -> decode and validate the body into ReferralModel exactly as the gateway does -> 202.
//           Nothing stored, no auth, no routing: never a route of the product.
//   sink    An agency endpoint that acknowledges every delivery at once, so the gateway's
//           dispatcher has somewhere fast to deliver during the benchmark.
import Foundation
import Hummingbird
import Logging
import NIOCore
import ReferralModel

let arguments = CommandLine.arguments
guard arguments.count == 3, let port = Int(arguments[2]), ["plain", "decode", "sink"].contains(arguments[1]) else {
    FileHandle.standardError.write(Data("usage: intake-baseline plain|decode|sink PORT\n".utf8))
    exit(64)
}
let mode = arguments[1]
let decoder = ReferralDecoder()
let router = Router()
let accepted = #"{"id":"00000000-0000-7000-8000-000000000000","status":"routed"}"#
router.post("**") { request, _ -> Response in
    let body = try await request.body.collect(upTo: 1 << 20)
    if mode == "decode" {
        do {
            _ = try decoder.decode(body.readableBytesView)
        } catch {
            return Response(status: .unprocessableContent)
        }
    }
    return Response(
        status: .accepted, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: accepted)))
}
var logger = Logger(label: "intake-baseline")
logger.logLevel = .warning
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
try await app.runService()
