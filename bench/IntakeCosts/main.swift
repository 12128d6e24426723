// What each step of intake costs a request, on one thread: `intake-costs [SECONDS] [BODY]`.
//
//   touch        reading every byte of the body once: the baseline, measured in the same run
//   auth         the bearer key's SHA-256 digest and its lookup among the live keys
//   refused      a bad key: the digest, the failed lookup, and the front door's count
//   validation   ReferralDecoder: parsing, every schema and domain check, normalising
//   log          one info line with the intake's metadata, as JSON, written (to /dev/null)
//   log-filtered the same line below the log level: what a quiet gateway pays
// Prints nanoseconds per request for each, and each as a multiple of the baseline, so a regression
// in one shows as a number.
import Foundation
import Logging
import Observability
import ReferralModel
import Settings
import UseCases

#if canImport(Glibc)
    import Glibc
#endif

let seconds = CommandLine.arguments.count > 1 ? Double(CommandLine.arguments[1]) ?? 1 : 1
let path = CommandLine.arguments.count > 2 ? CommandLine.arguments[2] : "config/examples/referral-falls.json"
guard let body = FileManager.default.contents(atPath: path).map(Array.init) else {
    FileHandle.standardError.write(Data("intake-costs: cannot read \(path)\n".utf8))
    exit(66)
}

/// Runs `step` for about `seconds` and returns nanoseconds a call.
func measure(_ step: () -> Void) -> Double {
    for _ in 0..<100 { step() }
    var calls = 0
    let clock = ContinuousClock()
    let start = clock.now
    let budget = Duration.seconds(seconds)
    while clock.now - start < budget {
        for _ in 0..<100 { step() }
        calls += 100
    }
    let elapsed = clock.now - start
    return (Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9) / Double(calls)
}

var sink = 0
let touch = measure {
    var sum = 0
    for byte in body { sum &+= Int(byte) }
    sink &+= sum
}

let keys = LiveKeys(
    configured: (0..<20).map { index in
        APIKey(id: "key-\(index)", role: .referrer, digest: APIKey.digest(of: "bench-key-\(index)-0123456789abcdef"))
    })
let now = Date()
let auth = measure {
    if keys.holder(digest: APIKey.digest(of: "bench-key-7-0123456789abcdef"), now: now) != nil { sink &+= 1 }
}
let refused = measure {
    if keys.holder(digest: APIKey.digest(of: "not-a-key-we-know-0123456789"), now: now) == nil { sink &+= 1 }
}

let decoder = ReferralDecoder()
let today = ReferralDecoder.today()
let validation = measure {
    if (try? decoder.decode(body, today: today)) != nil { sink &+= 1 }
}

// The log line intake writes, as JSON, into /dev/null in place of standard error.
let saved = dup(STDERR_FILENO)
let devnull = open("/dev/null", O_WRONLY)
dup2(devnull, STDERR_FILENO)
var logger = Logger(label: "switchboard") { JSONLinesLogHandler(label: $0) }
logger.logLevel = .info
logger[metadataKey: "request"] = "01a20000-0000-7000-8000-000000000001"
let log = measure {
    logger.info(
        "Referral accepted",
        metadata: [
            "referral": "01a20000-0000-7000-8000-000000000002", "actor": "bench-referrer", "routes": "2", "rules": "sha256:3b753fe2dd10",
        ])
}
logger.logLevel = .warning
let filtered = measure {
    logger.info(
        "Referral accepted",
        metadata: [
            "referral": "01a20000-0000-7000-8000-000000000002", "actor": "bench-referrer", "routes": "2", "rules": "sha256:3b753fe2dd10",
        ])
}
dup2(saved, STDERR_FILENO)

print("Intake step costs, one thread, \(body.count)-byte referral:")
for (name, nanoseconds) in [
    ("touch", touch), ("auth", auth), ("refused", refused), ("validation", validation), ("log", log), ("log-filtered", filtered),
] {
    print(
        name.padding(toLength: 13, withPad: " ", startingAt: 0) + String(format: "%9.0f ns/request   %7.1f x touch", nanoseconds, nanoseconds / touch)
    )
}
if sink == 42 { print("") }  // keeps the measured work from being optimised away
