import HTTPTypes

#if canImport(Glibc)
    import Glibc
#endif

/// Which address a request comes from, for the front door's counts. Directly, the TCP peer. Behind
/// proxies listed in `server.trusted_proxies`, the nearest address in `X-Forwarded-For` that is
/// not one of them. Only well-formed IP addresses are ever taken from the header: anything else in
/// it (a name, a sentence) is ignored, so nothing a client writes there can reach the audit trail.
public struct ClientAddress: Sendable {
    public let trusted: [Network]

    public init(trusted: [Network]) { self.trusted = trusted }

    public struct Network: Sendable, Equatable {
        let bytes: [UInt8]
        let prefix: Int

        /// `10.0.0.0/8`, `192.0.2.7`, `2001:db8::/32` or `::1`; nil when it is not one.
        public init?(_ text: String) {
            let parts = text.split(separator: "/", maxSplits: 1).map(String.init)
            guard let bytes = ClientAddress.bytes(of: parts[0]) else { return nil }
            let length = bytes.count * 8
            let prefix = parts.count == 2 ? Int(parts[1]) : length
            guard let prefix, (0...length).contains(prefix) else { return nil }
            self.bytes = bytes
            self.prefix = prefix
        }

        func contains(_ address: [UInt8]) -> Bool {
            guard address.count == bytes.count else { return false }
            var remaining = prefix
            for (mine, theirs) in zip(bytes, address) where remaining > 0 {
                let bits = min(8, remaining)
                let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
                if mine & mask != theirs & mask { return false }
                remaining -= bits
            }
            return true
        }
    }

    /// The 4 or 16 bytes of an IPv4 or IPv6 address in text, or nil.
    static func bytes(of text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: v6) { Array($0) } }
        return nil
    }

    public func isTrusted(_ address: String) -> Bool {
        guard let bytes = Self.bytes(of: address) else { return false }
        return trusted.contains { $0.contains(bytes) }
    }

    /// The address to count `peer`'s request under.
    public func source(peer: String, headers: HTTPFields) -> String {
        guard !trusted.isEmpty, isTrusted(peer) else { return peer }
        let forwarded = headers[values: HTTPField.Name("X-Forwarded-For")!].flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces) }
        // From the nearest hop outwards: the first address no trusted proxy claims is the client.
        for hop in forwarded.reversed() {
            guard Self.bytes(of: hop) != nil else { return peer }
            if !isTrusted(hop) { return hop }
        }
        return peer
    }
}
