// The delivery benchmark's measuring half (bench/deliveries runs it):
//   raw URL JOBS CONCURRENCY
//       libcurl alone, through the gateway's own transport: the same rendered and signed body
//       posted JOBS times with CONCURRENCY in flight. Nothing stored. The ceiling.
//   dispatch URL JOBS CONCURRENCY DIRECTORY
//       the real dispatcher over a real SQLite store (WAL, synchronous=FULL) in DIRECTORY: JOBS
//       referrals queued first, then drained to URL with CONCURRENCY in flight, each attempt's
//       outcome and its two audit events committed. Checks every job was delivered and the audit
//       chain verifies before it prints.
//   isolation URL SILENT RATE SECONDS DIRECTORY
//       acceptance-to-delivery latency for a healthy agency fed RATE referrals a second for SECONDS,
//       while SILENT jobs wait for an agency that accepts connections and never answers.
//   lease DIRECTORY QUEUED
//       the time to lease a batch of 64 jobs for one agency while QUEUED jobs wait for a paused
//       one, and this process's resident memory.
//   render CONFIG_DIRECTORY RENDERS
//       the time to render one delivery's body, RENDERS times each, through the example
//       configuration's two templates (JSON and XML) as deliveries render them and through the
//       Mustache library alone, and through the JSON webhook adapter.
// Each prints one line of figures.
import AdapterKit
import Audit
import Delivery
import Foundation
import JSONWebhookAdapter
import Logging
import ReferralModel
import ServiceLifecycle
import Storage
@_spi(Measure) import TemplateAdapter
import Transport

#if canImport(Glibc)
    import Glibc
#endif

let arguments = CommandLine.arguments
let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("delivery-bench: \(message)\n".utf8))
    exit(64)
}

func adapter(_ agency: String) throws -> any AgencyAdapter {
    try JSONWebhookAdapter(setup: AdapterSetup(configDirectory: URL(fileURLWithPath: "/tmp"), agencyId: agency))
}

/// Queues `count` referrals, one delivery each, for `agency`, many at once so they share commits.
func queue(_ count: Int, for agency: AgencyID, in store: SQLiteStore, at now: Date = Date()) async throws {
    let referral = ExampleReferrals.complete
    var next = 0
    while next < count {
        let batch = min(512, count - next)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<batch {
                group.addTask {
                    let id = ReferralID.make(now: now)
                    _ = try await store.accept(
                        IntakeRecord(
                            referralId: id, receivedAt: now, actor: "bench", referral: referral, rulesVersion: "bench",
                            deliveries: [NewDelivery(route: Route(agency: agency, rule: "bench", deliveryId: DeliveryID.make(now: now)))],
                            audit: [AuditNarrative.referralReceived(referralId: id, actor: "bench", at: now, organisation: "A81001", bytes: 1)],
                            idempotency: nil))
                }
            }
            try await group.waitForAll()
        }
        next += batch
    }
}

func residentMegabytes() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
    else { return 0 }
    return (Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) / 1024
}

func raw(url: String, jobs: Int, concurrency: Int) async throws {
    let context = DeliveryContext(deliveryId: Identifier.make(), referralId: Identifier.make(), agencyId: "bench", rule: "bench", receivedAt: Date())
    let rendered = try adapter("bench").render(ExampleReferrals.complete, context: context)
    let signer = WebhookSigner(secret: secret)!
    let headers = [("Content-Type", rendered.contentType)] + signer.headers(id: context.deliveryId, timestamp: 1, body: rendered.body)
    let request = HTTPRequest(url: url, method: "POST", headers: headers, body: rendered.body, connectTimeout: 5, totalTimeout: 30)
    let started = ContinuousClock.now
    let failures = try await CurlTransport.withRunning { transport in
        try await withThrowingTaskGroup(of: Int.self) { group in
            for worker in 0..<concurrency {
                group.addTask {
                    var failed = 0
                    for _ in stride(from: worker, to: jobs, by: concurrency) {
                        do {
                            let response = try await transport.send(request)
                            if !(200..<300).contains(response.status) { failed += 1 }
                        } catch { failed += 1 }
                    }
                    return failed
                }
            }
            return try await group.reduce(0, +)
        }
    }
    let seconds = started.duration(to: .now).seconds
    print(
        String(
            format: "raw       in-flight %3d  %8.0f/s  (%d posts in %.2f s, %d failed)", concurrency, Double(jobs) / seconds, jobs, seconds, failures)
    )
}

func dispatch(url: String, jobs: Int, concurrency: Int, directory: String) async throws {
    let store = try SQLiteStore(path: directory + "/dispatch-\(concurrency).sqlite", exclusive: true)
    try await queue(jobs, for: "bench", in: store)
    let target = DeliveryTarget(
        agencyId: "bench", endpoint: url, adapter: try adapter("bench"), signer: WebhookSigner(secret: secret), concurrency: concurrency)
    var logger = Logger(label: "delivery-bench")
    logger.logLevel = .warning
    let transport = CurlTransport()
    let dispatcher = Dispatcher(
        queue: store, targets: [target], transport: transport, configuration: .init(concurrency: concurrency, idlePoll: 0.05), logger: logger)
    let group = ServiceGroup(configuration: .init(services: [.init(service: transport), .init(service: dispatcher)], logger: logger))
    let started = ContinuousClock.now
    let running = Task { try await group.run() }
    var pending = jobs
    while pending > 0 {
        try await Task.sleep(for: .milliseconds(20))
        pending = try await store.queueCounts(now: Date()).first { $0.agency == "bench" }?.pending ?? 0
    }
    let seconds = started.duration(to: .now).seconds
    await group.triggerGracefulShutdown()
    try await running.value
    let counts = try await store.queueCounts(now: Date())
    guard counts.allSatisfy({ $0.deadLettered == 0 && $0.pending == 0 }) else { fail("some deliveries did not arrive: \(counts)") }
    guard case .intact(let events, _) = try await store.verifyAudit() else { fail("the audit chain does not verify") }
    guard events == jobs * 3 else { fail("expected \(jobs * 3) audit events, found \(events)") }
    print(
        String(
            format: "dispatch  in-flight %3d  %8.0f/s  (%d deliveries in %.2f s, each with its state and 2 audit events committed)", concurrency,
            Double(jobs) / seconds, jobs, seconds))
}

func parseTime(_ text: String) -> Date? {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return formatter.date(from: text)
}

/// A TCP port that accepts connections (the kernel completes the handshake) but never answers:
/// an agency whose system has hung.
func silentPort() -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) } }
    listen(descriptor, 1024)
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) } }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Time from acceptance to delivery for a healthy agency fed at `rate` referrals a second for
/// `seconds`, while `silent` jobs wait for an agency that never answers.
func isolation(url: String, silent: Int, rate: Int, seconds: Int, directory: String) async throws {
    let store = try SQLiteStore(path: directory + "/isolation-\(silent).sqlite", exclusive: true)
    try await queue(silent, for: "silent", in: store)
    let targets = [
        DeliveryTarget(
            agencyId: "silent", endpoint: "http://127.0.0.1:\(silentPort())/referrals", adapter: try adapter("silent"),
            signer: WebhookSigner(secret: secret), totalTimeout: 30, concurrency: 8),
        DeliveryTarget(agencyId: "healthy", endpoint: url, adapter: try adapter("healthy"), signer: WebhookSigner(secret: secret), concurrency: 8),
    ]
    var logger = Logger(label: "delivery-bench")
    logger.logLevel = .warning
    let transport = CurlTransport()
    let dispatcher = Dispatcher(queue: store, targets: targets, transport: transport, configuration: .init(concurrency: 64), logger: logger)
    let group = ServiceGroup(configuration: .init(services: [.init(service: transport), .init(service: dispatcher)], logger: logger))
    let running = Task { try await group.run() }
    var ids: [ReferralID] = []
    let started = ContinuousClock.now
    for index in 0..<(rate * seconds) {
        try await Task.sleep(until: started + .seconds(Double(index) / Double(rate)), clock: .continuous)
        let now = Date()
        let id = ReferralID.make(now: now)
        ids.append(id)
        _ = try await store.accept(
            IntakeRecord(
                referralId: id, receivedAt: now, actor: "bench", referral: ExampleReferrals.complete, rulesVersion: "bench",
                deliveries: [NewDelivery(route: Route(agency: "healthy", rule: "bench", deliveryId: DeliveryID.make(now: now)))], audit: [],
                idempotency: nil))
        dispatcher.wake()
    }
    var latencies: [Double] = []
    for id in ids {
        var delivery = try await store.report(referralId: id)?.deliveries.first
        while delivery?.deliveredAt == nil {
            try await Task.sleep(for: .milliseconds(50))
            delivery = try await store.report(referralId: id)?.deliveries.first
        }
        let report = try await store.report(referralId: id)
        guard let received = report.flatMap({ parseTime($0.receivedAt) }), let delivered = delivery?.deliveredAt.flatMap(parseTime)
        else { fail("no times for \(id)") }
        latencies.append(delivered.timeIntervalSince(received) * 1000)
    }
    running.cancel()
    _ = try? await running.value
    latencies.sort()
    print(
        String(
            format:
                "isolation silent backlog %6d  healthy agency at %d/s: acceptance to delivery p50 %.0f ms, p99 %.0f ms (stored times, 1 ms resolution)",
            silent, rate,
            latencies[latencies.count / 2], latencies[latencies.count * 99 / 100]))
}

func lease(directory: String, queued: Int) async throws {
    let store = try SQLiteStore(path: directory + "/lease-\(queued).sqlite", exclusive: true)
    try await queue(queued, for: "paused", in: store)
    try await queue(6_400, for: "healthy", in: store)
    let before = residentMegabytes()
    var timings: [Double] = []
    for _ in 0..<100 {
        let started = ContinuousClock.now
        let leased = try await store.leaseDueDeliveries(now: Date(), lanes: [LaneDemand(agency: "healthy", limit: 64, leaseDuration: 60)])
        timings.append(started.duration(to: .now).seconds * 1000)
        guard leased.count == 64 else { fail("leased \(leased.count), not 64") }
        _ = try await store.finish(leased.map { DeliveryCompletion(lease: $0, result: .delivered(agencyReference: nil), audit: [], at: Date()) })
    }
    timings.sort()
    print(
        String(
            format: "lease     queued %9d  batch of 64: median %.2f ms, p99 %.2f ms; resident memory %.0f MB", queued, timings[50], timings[98],
            max(before, residentMegabytes())))
}

/// The time one render takes, as a delivery makes it, for each example template (compiled and through
/// the Mustache library alone, the baseline) and a JSON webhook.
func renderCost(configDirectory: String, renders: Int) throws {
    let directory = URL(fileURLWithPath: configDirectory)
    func text(_ value: String) -> OptionValue { OptionValue(.text(value), line: 1, column: 1) }
    func template(_ file: String, _ contentType: String) throws -> TemplateAdapter {
        try TemplateAdapter(
            setup: AdapterSetup(
                options: ["template": text("templates/\(file)"), "content_type": text(contentType)], configDirectory: directory,
                agencyId: "bench"))
    }
    let json = try template("council-case.json.mustache", "json")
    let xml = try template("community-referral.xml.mustache", "xml")
    let webhook = try adapter("bench")
    let referral = ExampleReferrals.complete
    let context = DeliveryContext(
        deliveryId: DeliveryID.make().rawValue, referralId: ReferralID.make().rawValue, agencyId: "bench", rule: "bench", receivedAt: Date())
    let ways: [(String, () throws -> [UInt8])] = [
        ("template json, compiled" + (json.rendersCompiled ? "" : " (NOT USED)"), { try json.render(referral, context: context).body }),
        ("template json, library", { json.renderThroughLibrary(referral, context: context) }),
        ("template xml, compiled" + (xml.rendersCompiled ? "" : " (NOT USED)"), { try xml.render(referral, context: context).body }),
        ("template xml, library", { xml.renderThroughLibrary(referral, context: context) }),
        ("json-webhook", { try webhook.render(referral, context: context).body }),
    ]
    var costs: [Double] = []
    for (name, render) in ways {
        var bytes = 0
        let clock = ContinuousClock()
        let started = clock.now
        for _ in 0..<renders { bytes &+= try render().count }
        let each = (clock.now - started).seconds / Double(renders)
        costs.append(each)
        print(
            "render   " + name.padding(toLength: 34, withPad: " ", startingAt: 0)
                + String(format: "%8.1f µs a delivery   (%d bytes)", each * 1e6, bytes / renders))
    }
    print(String(format: "         compiled / library = %.2f (json), %.2f (xml)", costs[0] / costs[1], costs[2] / costs[3]))
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

func number(_ index: Int, _ name: String) -> Int {
    guard let value = Int(arguments[index]), value > 0 else { fail("\(name) must be a whole number above 0") }
    return value
}

switch (arguments.dropFirst().first, arguments.count) {
case ("raw", 5):
    try await raw(url: arguments[2], jobs: number(3, "JOBS"), concurrency: number(4, "CONCURRENCY"))
case ("dispatch", 6):
    try await dispatch(url: arguments[2], jobs: number(3, "JOBS"), concurrency: number(4, "CONCURRENCY"), directory: arguments[5])
case ("isolation", 7):
    try await isolation(
        url: arguments[2], silent: Int(arguments[3]) ?? 0, rate: number(4, "RATE"), seconds: number(5, "SECONDS"), directory: arguments[6])
case ("lease", 4):
    try await lease(directory: arguments[2], queued: number(3, "QUEUED"))
case ("render", 4):
    try renderCost(configDirectory: arguments[2], renders: number(3, "RENDERS"))
default:
    fail(
        "usage: delivery-bench raw URL JOBS CONCURRENCY | dispatch URL JOBS CONCURRENCY DIRECTORY | lease DIRECTORY QUEUED"
            + " | render CONFIG_DIRECTORY RENDERS")
}
