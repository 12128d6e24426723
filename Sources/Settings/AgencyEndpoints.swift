import Foundation
import Yams

#if canImport(Glibc)
    import Glibc
#endif

/// What an agency's endpoint may be: personal data leaves only encrypted (`https://`) unless the
/// endpoint is on this machine or the agency says `allow_plain_http: true`; and never to a
/// link-local, cloud metadata or unspecified address, in any spelling (`169.254.169.254`,
/// `0xa9fea9fe`, `2852039166`, `[::ffff:169.254.169.254]`), unless the agency says
/// `allow_link_local: true`.
public enum AgencyEndpoints {
    /// What kind of host an endpoint names.
    public enum HostKind: Sendable, Equatable {
        case loopback
        /// Link-local, a cloud provider's metadata service, or the unspecified address.
        case linkLocal
        case other
    }

    /// Names cloud providers' metadata services answer to.
    static let metadataNames: Set<String> = ["metadata.google.internal", "metadata", "instance-data", "instance-data.ec2.internal"]

    /// The kind of `host` (as a URL gives it: IPv6 in brackets), read the way libcurl reads it.
    public static func kind(of host: String) -> HostKind {
        var name = host.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        if name == "localhost" || name.hasSuffix(".localhost") { return .loopback }
        if metadataNames.contains(name) { return .linkLocal }
        if name.hasPrefix("["), name.hasSuffix("]") { return ipv6Kind(String(name.dropFirst().dropLast())) }
        if let address = ipv4(name) { return ipv4Kind(address) }
        return .other
    }

    /// An IPv4 address in any spelling inet_aton and libcurl take: 1 to 4 parts, each decimal,
    /// octal (a leading 0) or hexadecimal (0x), the last filling the remaining bytes.
    static func ipv4(_ text: String) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...4).contains(parts.count) else { return nil }
        var numbers: [UInt64] = []
        for part in parts {
            let lower = part.lowercased()
            let value: UInt64?
            if lower.hasPrefix("0x") {
                value = lower.count == 2 ? 0 : UInt64(lower.dropFirst(2), radix: 16)
            } else if lower.count > 1, lower.hasPrefix("0") {
                value = UInt64(lower.dropFirst(), radix: 8)
            } else {
                value = UInt64(lower, radix: 10)
            }
            guard let value else { return nil }
            numbers.append(value)
        }
        let last = numbers.removeLast()
        guard numbers.allSatisfy({ $0 <= 255 }), last < (UInt64(1) << (8 * (4 - numbers.count))) else { return nil }
        var address: UInt64 = 0
        for (index, byte) in numbers.enumerated() { address |= byte << (8 * (3 - index)) }
        return UInt32(address | last)
    }

    static func ipv4Kind(_ address: UInt32) -> HostKind {
        switch address >> 24 {
        case 127: return .loopback
        case 0: return .linkLocal  // this network, 0.0.0.0 among it: unspecified
        default: break
        }
        if address >> 16 == 0xA9FE { return .linkLocal }  // 169.254.0.0/16, the metadata address among it
        if address == 0x6464_64C8 { return .linkLocal }  // 100.100.100.200, Alibaba Cloud's metadata
        return .other
    }

    static func ipv6Kind(_ text: String) -> HostKind {
        var bytes = [UInt8](repeating: 0, count: 16)
        // A zone id (`fe80::1%eth0`) is link-local by definition.
        if text.contains("%") { return .linkLocal }
        guard inet_pton(AF_INET6, text, &bytes) == 1 else { return .other }
        if bytes == [UInt8](repeating: 0, count: 15) + [1] { return .loopback }
        if bytes.allSatisfy({ $0 == 0 }) { return .linkLocal }  // ::, unspecified
        if bytes[0] == 0xFE, bytes[1] & 0xC0 == 0x80 { return .linkLocal }  // fe80::/10
        // fd00:ec2::254, Amazon's metadata service over IPv6.
        if bytes == [0xFD, 0, 0x0E, 0xC2] + [UInt8](repeating: 0, count: 10) + [0x02, 0x54] { return .linkLocal }
        // An IPv4 address mapped (::ffff:a.b.c.d) or compatible (::a.b.c.d) is that address.
        if bytes[0..<10].allSatisfy({ $0 == 0 }), (bytes[10] == 0xFF && bytes[11] == 0xFF) || (bytes[10] == 0 && bytes[11] == 0) {
            let address = bytes[12...].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            return ipv4Kind(address)
        }
        return .other
    }

    /// Whether `path` (absolute, as resolved) lies inside `folder`, by its text: `..` cannot climb
    /// out, and an absolute path elsewhere is outside. A link an administrator puts inside the
    /// folder is followed; nobody can make one through the API.
    public static func isInside(_ path: String, folder: String) -> Bool {
        let inner = URL(fileURLWithPath: path).standardized.path
        let outer = URL(fileURLWithPath: folder).standardized.path
        return inner.hasPrefix(outer.hasSuffix("/") ? outer : outer + "/")
    }
}

extension AgencyDirectory {
    /// Refuses an endpoint that would send personal data unencrypted to another machine, or to a
    /// link-local or metadata address, unless the agency says so.
    static func checkDestination(_ endpoint: String, node: Node?, plainHTTP: Bool, linkLocal: Bool, reader: ConfigReader) {
        guard let url = URL(string: endpoint), let host = url.host else { return }
        let kind = AgencyEndpoints.kind(of: host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host)
        if kind == .linkLocal, !linkLocal {
            reader.fail(
                node, "endpoint '\(endpoint)' is a link-local, cloud metadata or unspecified address",
                hint: "an agency's system is not there; if it truly is, say allow_link_local: true")
        }
        if url.scheme?.lowercased() == "http", kind != .loopback, !plainHTTP {
            reader.fail(
                node, "endpoint '\(endpoint)' would send personal data unencrypted",
                hint: "use https://; on a network you trust, say allow_plain_http: true (the gateway warns at every start)")
        }
    }
}
