import Foundation
import Testing
import Transport

#if canImport(Glibc)
    import Glibc
#endif

/// A TCP socket on a free loopback port that accepts connections (the kernel completes the
/// handshake) but never answers: what a hung agency looks like.
final class SilentListener {
    let descriptor: Int32
    let port: Int

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.descriptor = descriptor
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
        }
        guard bound == 0, listen(descriptor, 16) == 0 else {
            close(descriptor)
            throw POSIXError(.EADDRINUSE)
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(descriptor) }
}

/// A loopback port with nothing listening on it.
func closedPort() throws -> Int {
    let listener = try SilentListener()
    return listener.port
}

@Suite struct TransportTests {
    @Test func aRefusedConnectionIsReportedAsSuch() async throws {
        let client = CurlTransport.started()
        defer { client.shutdown() }
        let port = try closedPort()
        await #expect {
            try await client.send(HTTPRequest(url: "http://127.0.0.1:\(port)/", method: "POST", body: Array("{}".utf8)))
        } throws: { error in
            (error as? TransportError)?.kind == .couldNotConnect
        }
    }

    @Test func aServerThatNeverAnswersTimesOut() async throws {
        let listener = try SilentListener()
        let client = CurlTransport.started()
        defer { client.shutdown() }
        let started = ContinuousClock.now
        await #expect {
            try await client.send(HTTPRequest(url: "http://127.0.0.1:\(listener.port)/", method: "POST", body: [1, 2, 3], totalTimeout: 0.5))
        } throws: { error in
            (error as? TransportError)?.kind == .timedOut
        }
        // A liveness check, not a speed target: without the timeout this would wait forever. The bound
        // is loose because the full suite shares two cores with many processes (5.3 s, then 22 s, was seen).
        #expect(started.duration(to: .now) < .seconds(50), "the total timeout bounds the wait")
    }

    @Test func onlyHTTPAndHTTPSAreSpoken() async throws {
        let client = CurlTransport.started()
        defer { client.shutdown() }
        await #expect {
            try await client.send(HTTPRequest(url: "file:///etc/passwd"))
        } throws: { error in
            (error as? TransportError)?.kind == .invalidRequest
        }
    }

    @Test func manyTransfersRunAtOnceOnOneThread() async throws {
        let client = CurlTransport.started()
        defer { client.shutdown() }
        let port = try closedPort()
        let failures = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<50 {
                group.addTask {
                    do {
                        _ = try await client.send(HTTPRequest(url: "http://127.0.0.1:\(port)/"))
                        return false
                    } catch {
                        return (error as? TransportError)?.kind == .couldNotConnect
                    }
                }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(failures == 50)
    }

    @Test func itsThreadStartsInRunAndStopsWhenTheServiceEnds() async throws {
        let transport = CurlTransport()
        let port = try closedPort()
        // A request sent before `run` waits for the thread rather than failing.
        let early = Task { () -> TransportError.Kind? in
            do throws(TransportError) {
                _ = try await transport.send(HTTPRequest(url: "http://127.0.0.1:\(port)/"))
                return nil
            } catch {
                return error.kind
            }
        }
        try await Task.sleep(for: .milliseconds(100))
        let service = Task { try await transport.run() }
        #expect(await early.value == .couldNotConnect)
        service.cancel()
        try await service.value
        await #expect {
            try await transport.send(HTTPRequest(url: "http://127.0.0.1:\(port)/"))
        } throws: { error in
            (error as? TransportError)?.message == "the HTTP client is shut down"
        }
    }
}

@Suite struct ResponseHeaderTests {
    /// A reply's headers as an agency wrote them, spaces and tabs around the values (which HTTP
    /// allows), one value in UTF-8: each is read without the space around it, and whole.
    @Test func headerValuesAreReadWithoutTheSpaceAroundThem() async throws {
        let listener = try SilentListener()
        let reply =
            "HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\nX-Spaced: \t a value  with inner spaces \t\r\nRetry-After:120\r\n"
            + "X-Team:   Équipe de l’accueil \r\nX-Empty:   \r\nConnection: close\r\n\r\n{}"
        let descriptor = listener.descriptor
        let server = Thread {
            let connection = accept(descriptor, nil, nil)
            guard connection >= 0 else { return }
            var buffer = [UInt8](repeating: 0, count: 4096)
            _ = recv(connection, &buffer, buffer.count, 0)
            let bytes = Array(reply.utf8)
            _ = bytes.withUnsafeBytes { send(connection, $0.baseAddress, bytes.count, 0) }
            close(connection)
        }
        server.start()
        let client = CurlTransport.started()
        defer { client.shutdown() }
        let response = try await client.send(HTTPRequest(url: "http://127.0.0.1:\(listener.port)/referrals", method: "POST", body: Array("{}".utf8)))
        let headers = Dictionary(response.headers.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
        #expect(response.status == 202)
        #expect(headers["X-Spaced"] == "a value  with inner spaces")
        #expect(headers["Retry-After"] == "120")
        #expect(headers["X-Team"] == "Équipe de l’accueil")
        #expect(headers["X-Empty"] == "")
    }
}
