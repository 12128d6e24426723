import ServiceLifecycle

/// The HTTP transport over libcurl's multi interface. One dedicated thread drives every transfer,
/// so blocking I/O never runs on Swift's cooperative pool; connections to the same host are reused.
///
/// It is a service: `run()` starts the thread and, on graceful shutdown, lets the transfers in
/// flight finish and stops it; on cancellation (a shutdown past its grace) it abandons them. Code outside a service group (the command line, tests)
/// uses `withRunning`, which does the same around a closure.
public final class CurlTransport: HTTPTransport, Service {
    private let engine: CurlEngine

    /// - Parameter maxHostConnections: connections open at once to one host.
    public init(maxHostConnections: Int = 64) {
        engine = CurlEngine(maxHostConnections: maxHostConnections)
    }

    public func run() async throws {
        engine.start()
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await engine.waitUntilStopped()
            } onCancel: {
                engine.abandon()
            }
        } onGracefulShutdown: {
            self.engine.stop()
        }
    }

    /// Runs `body` with a started transport, and stops it afterwards once its transfers end.
    public static func withRunning<Value>(_ body: (CurlTransport) async throws -> Value) async rethrows -> Value {
        let transport = CurlTransport()
        transport.engine.start()
        do {
            let value = try await body(transport)
            transport.engine.stop()
            await transport.engine.waitUntilStopped()
            return value
        } catch {
            transport.engine.stop()
            await transport.engine.waitUntilStopped()
            throw error
        }
    }

    /// Starts the transport for a caller that keeps it for its own lifetime (a test fixture); it
    /// stops when released or shut down.
    public static func started() -> CurlTransport {
        let transport = CurlTransport()
        transport.engine.start()
        return transport
    }

    /// Sends `request` and waits for the whole response.
    public func send(_ request: HTTPRequest) async throws(TransportError) -> HTTPResponse {
        let result: Result<HTTPResponse, TransportError> = await withCheckedContinuation { continuation in
            engine.enqueue(Transfer(request: request, continuation: continuation))
        }
        return try result.get()
    }

    /// Stops the transport thread once in-flight transfers end; later sends fail.
    public func shutdown() { engine.stop() }

    deinit { engine.stop() }
}
