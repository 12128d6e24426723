import Deployment
import Foundation
import Gateway
import Logging
import ServiceLifecycle
import Testing
import Transport

/// The service group `serve` runs, run here the same way: the gateway answers ready only with the
/// dispatcher running inside it, and a graceful shutdown stops every service in it.
@Suite struct ServiceGroupTests {
    @Test func theGroupServeRunsStartsTheDispatcherBesideTheServerAndStopsThemAll() async throws {
        let fixture = try GatewayFixture(server: "shutdown_seconds: 2")
        try await fixture.components.start()
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let (ports, port) = AsyncStream.makeStream(of: Int.self)
        let app = try fixture.application.application(logger: logger) { port.yield($0) }
        let group = fixture.components.serviceGroup(server: app, signals: [], logger: logger)
        let running = Task { try await group.run() }
        var next = ports.makeAsyncIterator()
        let listening = try #require(await next.next())

        // The transport the dispatcher sends with runs in the same group: it carries this request too.
        // Asked again while the store's small write is slower than readiness allows (2 s): a full
        // parallel run on two cores was seen to stall a SQLite write that long.
        var ready = try await fixture.components.transport.send(HTTPRequest(url: "http://127.0.0.1:\(listening)/readyz"))
        let deadline = ContinuousClock.now + .seconds(30)
        while ready.status == 503, String(decoding: ready.body, as: UTF8.self).contains("did not finish"), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(500))
            ready = try await fixture.components.transport.send(HTTPRequest(url: "http://127.0.0.1:\(listening)/readyz"))
        }
        let body = String(decoding: ready.body, as: UTF8.self)
        #expect(ready.status == 200, "\(body)")
        #expect(body.contains(#""dispatcher":"running""#))
        #expect(fixture.components.dispatcher.isRunning)

        await group.triggerGracefulShutdown()
        try await running.value
        #expect(!fixture.components.dispatcher.isRunning, "the dispatcher stopped with the group")
    }
}
