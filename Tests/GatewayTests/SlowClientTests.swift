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

    /// - Parameter from: the loopback address to connect from (every 127.x.y.z is this machine's),
    ///   so one test can be several clients.
    init(port: Int, from: String = "127.0.0.1") throws {
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var source = sockaddr_in()
        source.sin_family = sa_family_t(AF_INET)
        source.sin_addr.s_addr = inet_addr(from)
        let bound = withUnsafePointer(to: &source) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw POSIXError(.EADDRNOTAVAIL) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
    }

    deinit { close(socket) }

    /// Sends bytes; false when the server has closed the connection.
    @discardableResult
    func send(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count
    }

    /// Whether the server has closed the connection, without waiting: nothing to read yet is open.
    var isClosedNow: Bool {
        var byte: UInt8 = 0
        let read = recv(socket, &byte, 1, Int32(MSG_DONTWAIT | MSG_PEEK))
        return read == 0 || (read < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
    }

    /// What the server sends within `seconds`, read without blocking a thread: the server answers
    /// on the same cooperative threads these tests run on.
    func answer(within seconds: Double = 10) async -> String {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var text = ""
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let read = recv(socket, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if read > 0 {
                text += String(decoding: buffer[..<read], as: UTF8.self)
                continue
            }
            if read == 0 || !text.isEmpty { break }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return text
    }

    /// Whether the server closes the connection within `seconds`, without blocking a thread.
    func closes(within seconds: Double = 0.5) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if isClosedNow { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return isClosedNow
    }
}

/// Slow and numerous clients cannot hold the server: the live HTTP server, over real sockets. One
/// at a time: each holds many connections, and times what the server does.
@Suite(.serialized) struct SlowClientTests {
    func live(_ server: String, _ body: @escaping @Sendable (Int) async throws -> Void) async throws {
        let fixture = try GatewayFixture(server: server)
        let app = try fixture.application.application(logger: Logger(label: "test"))
        try await app.test(.live) { client in
            // The test framework's own client holds a connection: it asks first, so that connection
            // is settled (and counted, as one that asked) before the test's own come. With a short
            // header timeout a busy machine may see it closed first: then it holds nothing.
            _ = try? await client.execute(uri: "/healthz", method: .get) { $0.status }
            try await body(try #require(client.port))
        }
    }

    @Test func aClientDribblingItsHeadersIsClosed() async throws {
        try await live("header_timeout_seconds: 1, body_timeout_seconds: 1") { port in
            let slow = try RawConnection(port: port)
            var closedAfter: Double?
            let started = Date()
            // One header byte every 200 ms: never idle, never finished.
            for byte in "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Padding: aaaaaaaaaaaaaaaaaaaa" {
                let closed = slow.send(String(byte)) ? await slow.closes(within: 0.1) : true
                if closed {
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
            #expect(await prompt.answer().hasPrefix("HTTP/1.1 200"))
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
                let closed = slow.send(" ") ? await slow.closes(within: 0.1) : true
                if closed { closedAfter = Date().timeIntervalSince(started) }
            }
            let after = try #require(closedAfter, "a trickled body is cut off")
            #expect(after < 5, "cut at the 1 s body deadline, not left to the 5 s header one: \(after) s")
        }
    }

    /// Sends one request on `connection` and reads the answer's status line.
    func status(_ connection: RawConnection) async -> String {
        connection.send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        return String(await connection.answer().prefix(12))
    }

    @Test func pastTheCapTheOldestIdleConnectionGivesWayAndOnesThatAskedAreKept() async throws {
        // Six places: the test framework's client, two working clients and three more.
        try await live("max_connections: 6, max_connections_per_address: 6, header_timeout_seconds: 30") { port in
            // Two clients that have asked for something, on connections they keep open.
            let working = [try RawConnection(port: port, from: "127.0.0.2"), try RawConnection(port: port, from: "127.0.0.3")]
            for connection in working { #expect(await status(connection) == "HTTP/1.1 200") }
            // Eight connections that never send a request, from five addresses.
            var idle: [RawConnection] = []
            for index in 0..<8 {
                idle.append(try RawConnection(port: port, from: "127.0.1.\(index % 5 + 1)"))
                try await Task.sleep(for: .milliseconds(100))
            }
            var open: [Bool] = []
            for connection in idle { open.append(await !connection.closes()) }
            // Three places are left beside the two working clients (four when the test framework's own
            // connection was not held, as on a loaded machine): newer idle ones hold them, and the
            // oldest gave way. The gateway ranks connections as its two event loops see them arrive,
            // and a loop busy with the rest of the test suite has seen one late by more than 150 ms
            // (kept: the 4th, 6th and 8th), so the ranking is checked where such a stall cannot
            // reach: the two oldest gave way and the newest kept its place.
            let kept = open.filter { $0 }.count
            #expect((3...4).contains(kept), "\(open)")
            #expect(!open[0] && !open[1], "the oldest idle connections gave way: \(open)")
            #expect(open[7], "the newest idle connection kept its place: \(open)")
            for connection in working { #expect(await status(connection) == "HTTP/1.1 200", "a client that asked keeps its place") }
            // A new client is served at once, in an idle one's place.
            #expect(await status(try RawConnection(port: port, from: "127.0.0.4")) == "HTTP/1.1 200")
        }
    }

    @Test func whenEveryConnectionHasAskedANewOneIsClosed() async throws {
        // Four places: the test framework's client and three working clients.
        try await live("max_connections: 4, max_connections_per_address: 4, header_timeout_seconds: 30") { port in
            let working = try (2...4).map { try RawConnection(port: port, from: "127.0.0.\($0)") }
            for connection in working { #expect(await status(connection) == "HTTP/1.1 200") }
            let late = try RawConnection(port: port, from: "127.0.0.5")
            #expect(await late.closes(within: 2))
            for connection in working { #expect(await status(connection) == "HTTP/1.1 200") }
        }
    }

    @Test func oneAddressHoldingManyConnectionsDoesNotShutOutAnother() async throws {
        try await live("max_connections: 64, max_connections_per_address: 16, header_timeout_seconds: 2") { port in
            // One address keeps 100 idle connections open for five seconds, reopening each the server closes...
            let flood = Task {
                var held: [RawConnection] = []
                var opened = 0
                let until = Date().addingTimeInterval(5)
                while Date() < until {
                    held.removeAll { $0.isClosedNow }
                    while held.count < 100, let connection = try? RawConnection(port: port) {
                        held.append(connection)
                        opened += 1
                    }
                    try? await Task.sleep(for: .milliseconds(100))
                }
                return opened
            }
            // ...while another client's requests, each on a new connection, all succeed.
            var answers: [String] = []
            for _ in 0..<25 {
                try await Task.sleep(for: .milliseconds(150))
                answers.append(await status(try RawConnection(port: port, from: "127.0.0.9")))
            }
            let opened = await flood.value
            #expect(opened > 64, "the flood opened more connections than the server holds: \(opened)")
            #expect(answers.allSatisfy { $0 == "HTTP/1.1 200" }, "\(answers)")
        }
    }

    @Test func aTrustedProxyIsNotCappedByAddress() async throws {
        try await live("max_connections: 20, max_connections_per_address: 2, header_timeout_seconds: 30, trusted_proxies: [127.0.0.7]") { port in
            let proxied = try (0..<6).map { _ in try RawConnection(port: port, from: "127.0.0.7") }
            let other = try (0..<4).map { _ in try RawConnection(port: port, from: "127.0.0.8") }
            var kept: [Bool] = []
            for connection in proxied + other { kept.append(await !connection.closes()) }
            #expect(kept.prefix(6).allSatisfy { $0 }, "the proxy keeps all six: \(kept)")
            // (Which two of the four the server took first is up to its threads.)
            #expect(kept.suffix(4).filter { $0 }.count == 2, "another address keeps two: \(kept)")
        }
    }
}
