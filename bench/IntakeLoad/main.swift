// Open-loop load at a fixed rate: requests are scheduled on a timetable and each latency is
// measured from when it was due, not from when it was sent, so a stalled server cannot hide its
// queueing (no coordinated omission). Prints achieved rate, p50, p99 and errors.
//
//   intake-load URL BODY_FILE RATE SECONDS [BEARER_KEY]
//   (BENCH_METHOD=GET sends GETs without the body, as a flood of requests with a bad key would.)
import Foundation
import Synchronization
import Transport

let arguments = CommandLine.arguments
guard arguments.count >= 5, let rate = Double(arguments[3]), let seconds = Double(arguments[4]),
    let body = FileManager.default.contents(atPath: arguments[2])
else {
    FileHandle.standardError.write(Data("usage: intake-load URL BODY_FILE RATE SECONDS [BEARER_KEY]\n".utf8))
    exit(64)
}
let url = arguments[1]
var headers: [(name: String, value: String)] = [("Content-Type", "application/json")]
if arguments.count > 5 { headers.append(("Authorization", "Bearer \(arguments[5])")) }
let method = ProcessInfo.processInfo.environment["BENCH_METHOD"] ?? "POST"
let request = HTTPRequest(url: url, method: method, headers: headers, body: method == "POST" ? Array(body) : [], totalTimeout: 30)
let client = CurlTransport.started()
let total = Int(rate * seconds)
let interval = 1.0 / rate
let start = ContinuousClock.now

let results = await withTaskGroup(of: (Double, Bool).self) { group in
    for index in 0..<total {
        let due = start + .seconds(Double(index) * interval)
        if due > .now { try? await Task.sleep(until: due, clock: .continuous) }
        group.addTask {
            let outcome = try? await client.send(request)
            let elapsed = due.duration(to: .now)
            let ok = outcome.map { (200..<300).contains($0.status) } ?? false
            return (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18, ok)
        }
    }
    var all: [(Double, Bool)] = []
    for await result in group { all.append(result) }
    return all
}
let wall = start.duration(to: .now)
let wallSeconds = Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18
let latencies = results.map(\.0).sorted()
func percentile(_ p: Double) -> Double { latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] * 1000 }
let errors = results.filter { !$0.1 }.count
print(
    String(
        format: "rate=%.0f/s achieved=%.0f/s p50=%.2fms p99=%.2fms max=%.2fms errors=%d requests=%d", rate, Double(results.count) / wallSeconds,
        percentile(0.5), percentile(0.99), (latencies.last ?? 0) * 1000, errors, results.count))
client.shutdown()
