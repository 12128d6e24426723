import Foundation
import Gateway
import HummingbirdTesting
import Logging
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A raw TCP connection to the live server, to send requests a byte at a time.
final class RawConnection {
    let socket: Int32

    init(port: Int) throws {
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(socket) }

    /// Sends bytes; false when the server has closed the connection.
    @discardableResult
    func send(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count
    }

    /// Whether the server has closed the connection: a read sees its end (or a reset).
    var isClosedByServer: Bool {
        var buffer = [UInt8](repeating: 0, count: 4_096)
        while true {
            let read = recv(socket, &buffer, buffer.count, 0)
            if read == 0 { return true }
            if read < 0 { return errno == ECONNRESET }
        }
    }

    /// Reads what the server sent until it pauses, waiting up to `seconds` for the first bytes (a
    /// busy machine may take a while to answer).
    func received(within seconds: Double = 10) -> String {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var text = ""
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let read = recv(socket, &buffer, buffer.count, 0)
            if read > 0 {
                text += String(decoding: buffer[..<read], as: UTF8.self)
            } else if read == 0 || !text.isEmpty {
                break
            }
        }
        return text
    }
}

/// Slow and numerous clients cannot hold the server: the live HTTP server, over real sockets.
@Suite struct SlowClientTests {
    func live(_ server: String, _ body: @escaping @Sendable (Int) async throws -> Void) async throws {
        let fixture = try GatewayFixture(server: server)
        let app = try fixture.application.application(logger: Logger(label: "test"))
        try await app.test(.live) { client in try await body(try #require(client.port)) }
    }

    @Test func aClientDribblingItsHeadersIsClosed() async throws {
        try await live("header_timeout_seconds: 1, body_timeout_seconds: 1") { port in
            let slow = try RawConnection(port: port)
            var closedAfter: Double?
            let started = Date()
            // One header byte every 200 ms: never idle, never finished.
            for byte in "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Padding: aaaaaaaaaaaaaaaaaaaa" {
                if !slow.send(String(byte)) || slow.isClosedByServer {
                    closedAfter = Date().timeIntervalSince(started)
                    break
                }
                try await Task.sleep(for: .milliseconds(200))
            }
            let after = try #require(closedAfter, "the connection was never closed")
            #expect(after >= 0.9, "closed at the header deadline, not before")
            // A client that sends its request promptly is served on a new connection.
            let prompt = try RawConnection(port: port)
            prompt.send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            try await Task.sleep(for: .milliseconds(200))
            #expect(prompt.received().hasPrefix("HTTP/1.1 200"))
        }
    }

    @Test func aClientDribblingItsBodyIsClosed() async throws {
        try await live("header_timeout_seconds: 5, body_timeout_seconds: 1") { port in
            let slow = try RawConnection(port: port)
            slow.send(
                "POST /v1/referrals HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer \(GatewayFixture.referrerKey)\r\n"
                    + "Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{")
            // A space every 200 ms, for as long as the connection lasts (up to 10 s of wall time,
            // however busy the machine).
            let started = Date()
            var closedAfter: Double?
            while closedAfter == nil, Date().timeIntervalSince(started) < 10 {
                try await Task.sleep(for: .milliseconds(200))
                if !slow.send(" ") || slow.isClosedByServer { closedAfter = Date().timeIntervalSince(started) }
            }
            let after = try #require(closedAfter, "a trickled body is cut off")
            #expect(after < 5, "cut at the 1 s body deadline, not left to the 5 s header one: \(after) s")
        }
    }

    @Test func connectionsPastTheCapAreClosed() async throws {
        try await live("max_connections: 5, header_timeout_seconds: 30") { port in
            var connections: [RawConnection] = []
            for _ in 0..<8 {
                connections.append(try RawConnection(port: port))
                try await Task.sleep(for: .milliseconds(50))
            }
            try await Task.sleep(for: .milliseconds(200))
            let open = connections.map { !$0.isClosedByServer }
            // The test client may hold one of the five itself.
            #expect((4...5).contains(open.filter { $0 }.count), "\(open)")
            #expect(open.prefix(4).allSatisfy { $0 } && open.suffix(3).allSatisfy { !$0 }, "the first are held, the later closed: \(open)")
            // When the held ones go, a new client is served again (once the server has seen them
            // close, which a busy machine may take a moment over).
            connections.removeAll()
            var served = false
            let deadline = Date().addingTimeInterval(10)
            while !served, Date() < deadline {
                try await Task.sleep(for: .milliseconds(200))
                let next = try RawConnection(port: port)
                next.send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
                served = next.received().hasPrefix("HTTP/1.1 200")
            }
            #expect(served)
        }
    }
}
