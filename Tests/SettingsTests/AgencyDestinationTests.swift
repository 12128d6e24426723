import Foundation
import Settings
import Testing

/// Where personal data may go: encrypted unless the endpoint is on this machine or the agency says
/// otherwise; never to a link-local or cloud metadata address in any spelling libcurl would take;
/// and files an agency names only from inside the configuration folder.
@Suite struct AgencyDestinationTests {
    func problems(_ agencies: String, folder: URL? = nil) -> [(line: Int, message: String, hint: String?)] {
        let file = (folder ?? FileManager.default.temporaryDirectory).appendingPathComponent("agencies.yaml").path
        do {
            _ = try AgencyDirectory.parse("agencies:\n" + agencies, file: file, adapters: ["json-webhook"])
            return []
        } catch {
            return error.issues.map { ($0.line, $0.message, $0.hint) }
        }
    }

    @Test(arguments: [
        "169.254.169.254", "0xa9fea9fe", "2852039166", "0251.0376.0251.0376", "169.254.43518", "0xa9.0xfe.0xa9.0xfe", "[::ffff:169.254.169.254]",
        "[::ffff:a9fe:a9fe]", "[fe80::1]", "[::]", "0.0.0.0", "0", "metadata.google.internal", "METADATA.GOOGLE.INTERNAL.", "100.100.100.200",
        "[fd00:ec2::254]",
    ])
    func linkLocalAndMetadataAddressesAreKnownInEverySpelling(host: String) {
        #expect(AgencyEndpoints.kind(of: host) == .linkLocal)
    }

    @Test(arguments: ["127.0.0.1", "127.1", "0x7f000001", "2130706433", "[::1]", "localhost", "api.localhost"])
    func loopbackIsKnownInEverySpelling(host: String) {
        #expect(AgencyEndpoints.kind(of: host) == .loopback)
    }

    @Test(arguments: ["spa.example.gov.uk", "8.8.8.8", "[2001:db8::1]", "169.254.example.org", "1.2.3.4.5", "0x1g"])
    func otherHostsAreOther(host: String) {
        #expect(AgencyEndpoints.kind(of: host) == .other)
    }

    @Test func plainHTTPToAnotherMachineIsRefusedAtItsLineUnlessTheAgencySaysSo() {
        let refused = problems(
            """
              - { id: a, name: A, adapter: json-webhook, endpoint: "http://council.example.gov.uk/referrals" }
              - { id: b, name: B, adapter: json-webhook, endpoint: "http://127.0.0.1:9101/referrals" }
              - { id: c, name: C, adapter: json-webhook, endpoint: "http://[::1]:9101/referrals" }
              - { id: d, name: D, adapter: json-webhook, endpoint: "https://council.example.gov.uk/referrals" }
              - { id: e, name: E, adapter: json-webhook, endpoint: "http://10.1.2.3/referrals", allow_plain_http: true }
            """)
        #expect(refused.map(\.line) == [2], "\(refused)")
        #expect(refused.first?.message == "endpoint 'http://council.example.gov.uk/referrals' would send personal data unencrypted")
        #expect(refused.first?.hint?.contains("allow_plain_http: true") == true)
    }

    @Test func aMetadataAddressIsRefusedHoweverItIsWrittenUnlessTheAgencySaysSo() {
        let refused = problems(
            """
              - { id: a, name: A, adapter: json-webhook, endpoint: "https://169.254.169.254/latest/meta-data/" }
              - { id: b, name: B, adapter: json-webhook, endpoint: "https://0xa9fea9fe/" }
              - { id: c, name: C, adapter: json-webhook, endpoint: "https://2852039166/" }
              - { id: d, name: D, adapter: json-webhook, endpoint: "https://[::ffff:169.254.169.254]/" }
              - { id: e, name: E, adapter: json-webhook, endpoint: "https://[fe80::1]/", allow_link_local: true }
            """)
        #expect(refused.map(\.line) == [2, 3, 4, 5], "\(refused)")
        #expect(refused.allSatisfy { $0.message.contains("link-local, cloud metadata or unspecified address") })
    }

    @Test func aTLSFileOutsideTheConfigurationFolderIsRefused() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-files-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("certs"), withIntermediateDirectories: true)
        try "x".write(to: folder.appendingPathComponent("certs/ca.pem"), atomically: true, encoding: .utf8)
        let refused = problems(
            """
              - { id: a, name: A, adapter: json-webhook, endpoint: "https://a.example/", tls: { ca_file: certs/ca.pem } }
              - { id: b, name: B, adapter: json-webhook, endpoint: "https://b.example/", tls: { ca_file: ../../../etc/ssl/certs/ca-certificates.crt } }
              - { id: c, name: C, adapter: json-webhook, endpoint: "https://c.example/", tls: { ca_file: /etc/passwd } }
            """, folder: folder)
        #expect(refused.map(\.line) == [3, 4], "\(refused)")
        #expect(refused.allSatisfy { $0.message.contains("is outside the configuration folder") })
    }
}
