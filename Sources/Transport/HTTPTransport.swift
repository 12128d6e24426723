import Foundation

/// Sends one HTTP request and waits for the whole response. The delivery engine depends on this
/// protocol alone: `CurlTransport` is the real one, and tests script their own.
public protocol HTTPTransport: Sendable {
    func send(_ request: HTTPRequest) async throws(TransportError) -> HTTPResponse
}

/// One HTTP request for the transport to send.
public struct HTTPRequest: Sendable {
    public var url: String
    public var method: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// Seconds to establish the connection, TLS included.
    public var connectTimeout: Double
    /// Seconds for the whole exchange.
    public var totalTimeout: Double

    public init(
        url: String, method: String = "GET", headers: [(name: String, value: String)] = [], body: [UInt8] = [],
        connectTimeout: Double = 5, totalTimeout: Double = 30
    ) {
        self.url = url
        self.method = method
        self.headers = headers
        self.body = body
        self.connectTimeout = connectTimeout
        self.totalTimeout = totalTimeout
    }
}

/// What the server answered.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public func header(_ name: String) -> String? {
        headers.last { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }
}

/// Why no HTTP response arrived.
public struct TransportError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case couldNotConnect
        case timedOut
        case tls
        case invalidRequest
        case other
    }

    public var kind: Kind
    /// libcurl's own words, without the URL's query or any body.
    public var message: String

    public init(kind: Kind, message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
