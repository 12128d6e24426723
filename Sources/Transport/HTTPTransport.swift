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
    /// How to trust the server, and what certificate to show it; the system's CA store when nil.
    public var tls: TLSOptions?

    public init(
        url: String, method: String = "GET", headers: [(name: String, value: String)] = [], body: [UInt8] = [],
        connectTimeout: Double = 5, totalTimeout: Double = 30, tls: TLSOptions? = nil
    ) {
        self.tls = tls
        self.url = url
        self.method = method
        self.headers = headers
        self.body = body
        self.connectTimeout = connectTimeout
        self.totalTimeout = totalTimeout
    }
}

/// TLS for one endpoint. Verification of the server's certificate and name is always on.
public struct TLSOptions: Sendable, Equatable {
    /// A PEM file of the CAs to trust for this server instead of the system's store.
    public var caFile: String?
    /// A PEM client certificate and its key, for servers that require mutual TLS.
    public var certificateFile: String?
    public var keyFile: String?

    public init(caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil) {
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
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
