import AdapterKit
import Foundation
import JSONWebhookAdapter
import Logging
import ReferralModel
import Storage
import SwitchboardTesting
import Testing
import Transport

@testable import Delivery

#if canImport(Glibc)
    import Glibc
#endif

/// Runs a program to the end and fails the test if it fails.
@discardableResult
func run(_ arguments: [String], in directory: URL) throws -> String {
    try ChildProcess.check(arguments, directory: directory.path)
}

/// A test CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl; and
/// an https agency (Python's ssl module) that requires a client certificate from that CA and
/// records each delivery's Authorization header.
final class MutualTLSAgency: Sendable {
    let folder: URL
    let port: Int
    private let process: ChildProcess

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-mtls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let days = ["-days", "2"]
        try run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=Test Agency CA"] + days,
            in: folder)
        for (name, subject) in [("server", "/CN=127.0.0.1"), ("client", "/CN=switchboard-gateway")] {
            try run(
                ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(name).key", "-out", "\(name).csr", "-subj", subject], in: folder)
            try "subjectAltName=IP:127.0.0.1\n".write(to: folder.appendingPathComponent("\(name).ext"), atomically: true, encoding: .utf8)
            try run(
                [
                    "openssl", "x509", "-req", "-in", "\(name).csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "\(name).pem",
                    "-extfile", "\(name).ext",
                ] + days, in: folder)
        }
        let script = """
            import http.server, ssl, sys
            class Agency(http.server.BaseHTTPRequestHandler):
                def do_POST(self):
                    self.rfile.read(int(self.headers.get('Content-Length', 0)))
                    with open('received.log', 'a') as log:
                        log.write((self.headers.get('Authorization') or '-') + '\\n')
                    self.send_response(202)
                    self.send_header('Content-Length', '0')
                    self.end_headers()
                def log_message(self, *args):
                    pass
            server = http.server.HTTPServer(('127.0.0.1', 0), Agency)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain('server.pem', 'server.key')
            context.load_verify_locations('ca.pem')
            context.verify_mode = ssl.CERT_REQUIRED
            server.socket = context.wrap_socket(server.socket, server_side=True)
            print(server.server_address[1], flush=True)
            server.serve_forever()
            """
        try script.write(to: folder.appendingPathComponent("agency.py"), atomically: true, encoding: .utf8)
        // The agency prints its port once it listens.
        let announced = folder.appendingPathComponent("port.txt").path
        process = try ChildProcess(["python3", "agency.py"], directory: folder.path, output: .file(announced))
        var line = ""
        for _ in 0..<2_000 where !line.hasSuffix("\n") && process.isRunning {
            usleep(10_000)
            line = (try? String(contentsOfFile: announced, encoding: .utf8)) ?? ""
        }
        port = Int(line.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    /// The Authorization header of each delivery that arrived.
    var received: [String] {
        ((try? String(contentsOf: folder.appendingPathComponent("received.log"), encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// Kills the agency.
    func stop() {
        process.signal(SIGKILL)
        process.waitUntilExit()
    }
}

@Suite(.serialized) struct MutualTLSTests {
    func deliver(to agency: MutualTLSAgency, tls: TLSOptions?) async throws -> ReferralReport.Delivery {
        let store = try SQLiteStore(path: agency.folder.appendingPathComponent("store-\(UUID().uuidString).sqlite").path)
        let transport = CurlTransport.started()
        defer { transport.shutdown() }
        let setup = AdapterSetup(configDirectory: URL(fileURLWithPath: "/tmp"), agencyId: "agency")
        let target = DeliveryTarget(
            agencyId: "agency", endpoint: "https://127.0.0.1:\(agency.port)/referrals", adapter: try JSONWebhookAdapter(setup: setup), signer: nil,
            authorization: ("Authorization", "Bearer crisis-team-token"), tls: tls)
        let dispatcher = Dispatcher(queue: store, targets: [target], transport: transport, logger: Logger(label: "mtls"))
        let now = Date()
        let id = ReferralID.make(now: now)
        _ = try await store.accept(
            IntakeRecord(
                referralId: id, receivedAt: now, actor: "gp", referral: ExampleReferrals.complete, rulesVersion: "v",
                deliveries: [NewDelivery(route: Route(agency: "agency", rule: "r", deliveryId: DeliveryID.make(now: now)))], audit: [],
                idempotency: nil))
        let leased = try await store.leaseDueDeliveries(now: now, lanes: [LaneDemand(agency: "agency", limit: 1, leaseDuration: 60)])
        for job in leased { await dispatcher.deliver(job) }
        return try #require(try await store.report(referralId: id)?.deliveries.first)
    }

    @Test func aClientCertificateAndTheAgencysCAGetThroughWithTheAuthHeader() async throws {
        // Made on a thread of its own: openssl and the agency's start are waited for, which would hold a test thread.
        let agency = try await TestPostgres.offThread { try MutualTLSAgency() }
        defer { agency.stop() }
        let delivery = try await deliver(
            to: agency, tls: TLSOptions(caFile: agency.path("ca.pem"), certificateFile: agency.path("client.pem"), keyFile: agency.path("client.key"))
        )
        #expect(delivery.state == .delivered, "\(delivery.lastError ?? "")")
        #expect(agency.received == ["Bearer crisis-team-token"])
    }

    @Test func withoutAClientCertificateTheAgencyRefusesTheConnection() async throws {
        // Made on a thread of its own: openssl and the agency's start are waited for, which would hold a test thread.
        let agency = try await TestPostgres.offThread { try MutualTLSAgency() }
        defer { agency.stop() }
        let delivery = try await deliver(to: agency, tls: TLSOptions(caFile: agency.path("ca.pem")))
        #expect(delivery.state == .pending)
        #expect(delivery.lastError?.hasPrefix("transport:") == true)
        #expect(agency.received.isEmpty)
    }

    @Test func aServerCertificateFromAnUntrustedCAIsRefused() async throws {
        // Made on a thread of its own: openssl and the agency's start are waited for, which would hold a test thread.
        let agency = try await TestPostgres.offThread { try MutualTLSAgency() }
        defer { agency.stop() }
        // The system's CA store does not know the test CA.
        let delivery = try await deliver(
            to: agency, tls: TLSOptions(certificateFile: agency.path("client.pem"), keyFile: agency.path("client.key")))
        #expect(delivery.state == .pending)
        #expect(delivery.lastError?.hasPrefix("transport:") == true)
        #expect(agency.received.isEmpty, "nothing was sent to a server the gateway could not trust")
    }
}
