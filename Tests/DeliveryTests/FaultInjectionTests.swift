import AdapterKit
import Audit
import Foundation
import Hummingbird
import JSONWebhookAdapter
import Logging
import NIOCore
import ReferralModel
import Storage
import Synchronization
import Testing
import Transport

@testable import Delivery

#if canImport(Glibc)
    import Glibc
#endif

/// How many requests reached a receiver.
final class RequestCounter: Sendable {
    private let count = Atomic<Int>(0)
    func add() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}

/// A real HTTP agency on loopback that misbehaves as the path says: `/status/N` answers N,
/// `/redirect` answers 302 elsewhere, `/retry-after-date` answers 503 asking for two minutes as an
/// HTTP date, `/slow` answers after 3 s.
final class FaultReceiver: Sendable {
    let port: Int
    let sent = RequestCounter()
    private let task: Task<Void, any Error>

    init() async throws {
        let router = Router()
        let sent = sent
        router.post("status/{code}") { _, context -> Response in
            sent.add()
            return Response(status: .init(code: Int(context.parameters.get("code") ?? "500") ?? 500))
        }
        router.post("redirect") { _, _ -> Response in
            sent.add()
            return Response(status: .found, headers: [.location: "https://elsewhere.example/intake?session=abc"])
        }
        router.post("retry-after-date") { _, _ -> Response in
            sent.add()
            let now = Date()
            return Response(
                status: .serviceUnavailable, headers: [.retryAfter: Self.httpDate(now.addingTimeInterval(120)), .date: Self.httpDate(now)])
        }
        router.post("slow") { _, _ -> Response in
            sent.add()
            try? await Task.sleep(for: .seconds(3))
            return Response(status: .accepted)
        }
        (port, task) = await serveOnLoopback(router, label: "fault-receiver")
    }

    func stop() { task.cancel() }

    static func httpDate(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.string(from: date)
    }
}

/// Serves `router` on a loopback port the system picks: the port, and the task to cancel to stop it.
func serveOnLoopback(_ router: Router<BasicRequestContext>, label: String) async -> (port: Int, task: Task<Void, any Error>) {
    let bound = AsyncStream.makeStream(of: Int.self)
    var logger = Logger(label: label)
    logger.logLevel = .error
    let app = Application(
        router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in bound.continuation.yield(channel.localAddress?.port ?? 0) }, logger: logger)
    let task = Task { try await app.runService() }
    var ports = bound.stream.makeAsyncIterator()
    return (await ports.next() ?? 0, task)
}

/// A loopback port that accepts each connection and resets it at once, as a crashing agency does.
final class ResettingListener: Sendable {
    let port: Int
    private let descriptor: Int32
    private let task: Task<Void, Never>

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) } }
        guard bound == 0, listen(descriptor, 16) == 0 else {
            close(descriptor)
            throw POSIXError(.EADDRINUSE)
        }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) } }
        port = Int(UInt16(bigEndian: address.sin_port))
        self.descriptor = descriptor
        task = Task.detached {
            while !Task.isCancelled {
                let connection = accept(descriptor, nil, nil)
                guard connection >= 0 else { return }
                // Linger zero: close sends RST rather than FIN.
                var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
                setsockopt(connection, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
                close(connection)
            }
        }
    }

    func stop() {
        shutdown(descriptor, Int32(SHUT_RDWR))
        close(descriptor)
        task.cancel()
    }
}

/// Each fault an agency can show, driven through the real libcurl transport into a real SQLite
/// store; the dispatcher's decisions are made as in production.
@Suite(.serialized) struct FaultInjectionTests {
    /// One agency at `path` on a real endpoint, the real transport, a SQLite store in a temporary folder.
    struct RealHarness {
        let store: SQLiteStore
        let transport: CurlTransport
        let dispatcher: Dispatcher

        init(endpoint: String, totalTimeout: Double = 30, circuit: CircuitPolicy = .init()) throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-faults-\(UUID().uuidString)")
            store = try SQLiteStore(path: directory.appendingPathComponent("store.sqlite").path, exclusive: true)
            transport = CurlTransport.started()
            let setup = AdapterSetup(configDirectory: URL(fileURLWithPath: "/tmp"), agencyId: "agency")
            let target = DeliveryTarget(
                agencyId: "agency", endpoint: endpoint, adapter: try JSONWebhookAdapter(setup: setup),
                signer: WebhookSigner(secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
                retry: RetryPolicy(maxAttempts: 5, initialBackoff: 1, maxBackoff: 600),
                connectTimeout: 1, totalTimeout: totalTimeout, circuit: circuit)
            dispatcher = Dispatcher(queue: store, targets: [target], transport: transport, logger: Logger(label: "faults"))
        }

        func submit() async throws -> ReferralID {
            let now = Date()
            let id = ReferralID.make(now: now)
            _ = try await store.accept(
                IntakeRecord(
                    referralId: id, receivedAt: now, actor: "gp", referral: ExampleReferrals.complete, rulesVersion: "v",
                    deliveries: [NewDelivery(route: Route(agency: "agency", rule: "r", deliveryId: DeliveryID.make(now: now)))], audit: [],
                    idempotency: nil))
            return id
        }

        /// Leases what the lane lets through now and makes each attempt.
        @discardableResult
        func attemptDue() async throws -> Int {
            let demands = dispatcher.book.withLock { $0.demands(now: Date(), globalFree: 16).demands }
            let jobs = try await store.leaseDueDeliveries(now: Date(), lanes: demands)
            dispatcher.book.withLock { book in
                for job in jobs { book.started(agency: job.agency) }
            }
            for job in jobs { await dispatcher.deliver(job) }
            return jobs.count
        }

        func delivery(_ id: ReferralID) async throws -> ReferralReport.Delivery {
            try #require(try await store.report(referralId: id)?.deliveries.first)
        }

        func stop() { transport.shutdown() }
    }

    @Test func goneDisablesTheAgencyAndKeepsItsJobs() async throws {
        let receiver = try await FaultReceiver()
        defer { receiver.stop() }
        let harness = try RealHarness(endpoint: "http://127.0.0.1:\(receiver.port)/status/410")
        defer { harness.stop() }
        let id = try await harness.submit()
        try await harness.attemptDue()
        #expect(harness.dispatcher.lanes.first?.disabled != nil)
        let delivery = try await harness.delivery(id)
        #expect(delivery.state == .pending)
        #expect(delivery.lastError?.contains("410") == true)
        _ = try await harness.submit()
        #expect(try await harness.attemptDue() == 0, "nothing more is sent to a disabled agency")
        #expect(receiver.sent.value == 1)
    }

    @Test func aRedirectIsRefusedNotFollowed() async throws {
        let receiver = try await FaultReceiver()
        defer { receiver.stop() }
        let harness = try RealHarness(endpoint: "http://127.0.0.1:\(receiver.port)/redirect")
        defer { harness.stop() }
        let id = try await harness.submit()
        try await harness.attemptDue()
        let delivery = try await harness.delivery(id)
        #expect(delivery.state == .deadLettered)
        #expect(delivery.lastError == "HTTP 302: the agency's system redirected to https://elsewhere.example; redirects are not followed")
        #expect(receiver.sent.value == 1)
    }

    @Test func retryAfterAsAnHTTPDateIsHonoured() async throws {
        let receiver = try await FaultReceiver()
        defer { receiver.stop() }
        let harness = try RealHarness(endpoint: "http://127.0.0.1:\(receiver.port)/retry-after-date")
        defer { harness.stop() }
        let id = try await harness.submit()
        let before = Date()
        try await harness.attemptDue()
        let after = Date()
        let delivery = try await harness.delivery(id)
        let next = try #require(delivery.nextAttemptAt.flatMap { ISO8601DateFormatter.withFractions.date(from: $0) })
        // Two minutes from when the answer came, which was between `before` and `after` (however
        // long a loaded machine took), measured from the reply's own Date header as RFC 9110 says:
        // HTTP dates are whole seconds, and the Date a server stamps may be up to a second behind
        // the moment it wrote Retry-After (Hummingbird's date is refreshed once a second), so up to
        // two seconds late is still two minutes by the agency's clock (seen: 121.5 s after `after`).
        #expect(
            next >= before.addingTimeInterval(119) && next <= after.addingTimeInterval(122),
            "two minutes, as the agency asked: \(next.timeIntervalSince(before)) s after the attempt began, \(after.timeIntervalSince(before)) s long"
        )
    }

    @Test func anAnswerSlowerThanTheTimeoutIsRetriedAndCountsAgainstTheCircuit() async throws {
        let receiver = try await FaultReceiver()
        defer { receiver.stop() }
        let harness = try RealHarness(
            endpoint: "http://127.0.0.1:\(receiver.port)/slow", totalTimeout: 0.5,
            circuit: CircuitPolicy(failuresToOpen: 1, coolDown: 60, maximumCoolDown: 60, disableAfter: 86_400))
        defer { harness.stop() }
        let id = try await harness.submit()
        try await harness.attemptDue()
        let delivery = try await harness.delivery(id)
        #expect(delivery.state == .pending)
        #expect(delivery.lastError?.hasPrefix("transport:") == true, "\(delivery.lastError ?? "")")
        #expect(harness.dispatcher.lanes.first?.circuit == .open)
    }

    @Test func aResetConnectionIsRetried() async throws {
        let listener = try ResettingListener()
        defer { listener.stop() }
        let harness = try RealHarness(endpoint: "http://127.0.0.1:\(listener.port)/referrals")
        defer { harness.stop() }
        let id = try await harness.submit()
        try await harness.attemptDue()
        let delivery = try await harness.delivery(id)
        #expect(delivery.state == .pending)
        #expect(delivery.attempts == 1)
        #expect(delivery.lastError?.hasPrefix("transport:") == true, "\(delivery.lastError ?? "")")
    }

    @Test func serverErrorsInARowOpenTheCircuitThenOneProbeGoes() async throws {
        let receiver = try await FaultReceiver()
        defer { receiver.stop() }
        let harness = try RealHarness(
            endpoint: "http://127.0.0.1:\(receiver.port)/status/503",
            // A rest long enough that a busy machine still asks again before it ends.
            circuit: CircuitPolicy(failuresToOpen: 3, coolDown: 1.5, maximumCoolDown: 1.5, disableAfter: 86_400))
        defer { harness.stop() }
        for _ in 0..<6 { _ = try await harness.submit() }
        #expect(try await harness.attemptDue() == 6)
        #expect(harness.dispatcher.lanes.first?.circuit == .open)
        #expect(try await harness.attemptDue() == 0)
        // After the rest (their backoff is at most a second, so a job is due by then), one probe goes,
        // however many are due: asked until the rest has ended on a busy machine too.
        try await Task.sleep(for: .seconds(1.5))
        var probes = 0
        let deadline = ContinuousClock.now + .seconds(10)
        while probes == 0, ContinuousClock.now < deadline {
            probes = try await harness.attemptDue()
            if probes == 0 { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(probes == 1, "after the rest, exactly one delivery probes")
        #expect(receiver.sent.value == 7)
    }
}

extension ISO8601DateFormatter {
    static var withFractions: ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }
}
