import Foundation
import Gateway
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import ReferralModel
import SwitchboardTesting
import Synchronization
import Testing

/// A gateway whose disk fills answers 503 with Retry-After, tells a load balancer through
/// `/readyz`, never acknowledges what it did not store, and recovers when space returns.
@Suite struct FullDiskTests {
    struct Readiness: Decodable {
        var status: String
        var store: String
        var dispatcher: String
    }

    func readiness(_ client: any TestClientProtocol) async throws -> (HTTPResponse.Status, Readiness) {
        try await client.execute(uri: "/readyz", method: .get) { response in
            (response.status, try JSONDecoder().decode(Readiness.self, from: Data(buffer: response.body)))
        }
    }

    /// Whether readiness passes within a few probes, as a load balancer asks again: a write may miss
    /// the probe's 2 s on a disk many test stores are fsyncing to at once.
    func becomesReady(_ client: any TestClientProtocol) async throws -> Bool {
        for _ in 0..<5 {
            if try await readiness(client).0 == .ok { return true }
            try await Task.sleep(for: .milliseconds(1_100))
        }
        return false
    }

    @Test func underTheReserveIntakeIs503AndNotReadyWhileOtherWorkGoesOn() async throws {
        // A reserve no disk here can meet.
        let fixture = try GatewayFixture(storageReserveMB: 1_000_000)
        try await fixture.test { client in
            try await client.execute(
                uri: "/v1/referrals", method: .post, headers: headers(key: GatewayFixture.referrerKey), body: ByteBuffer(data: try exampleReferral())
            ) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] == "30")
                try expectProblem(response, "urn:switchboard:problem:storage-unavailable")
                #expect(try response.problem().detail.contains("under the reserve"))
                #expect(response.headers[.location] == nil)
            }
            let (status, ready) = try await readiness(client)
            #expect(status == .serviceUnavailable)
            #expect(ready.status == "not-ready" && ready.store.contains("under the reserve"))
            // The reserve is for work in hand: an administrator can still change things.
            try await client.execute(
                uri: "/v1/agencies/oxfordshire-spa/pause", method: .post, headers: headers(key: GatewayFixture.adminKey),
                body: ByteBuffer(string: #"{"reason": "planned upgrade"}"#)
            ) { #expect($0.status == .ok) }
        }
        #expect(try fixture.count("referrals") == 0)
    }

    @Test func aFullDiskIs503NeverAFalse202AndPassesWhenSpaceReturns() async throws {
        let disk = try SmallDisk(megabytes: 12)
        let fixture = try GatewayFixture(storageReserveMB: 0, under: disk.path)
        let dispatcher = fixture.components.dispatcher
        let delivering = Task { try await dispatcher.run() }
        defer { delivering.cancel() }
        while !dispatcher.isRunning { try await Task.sleep(for: .milliseconds(10)) }
        let acknowledged = Mutex<[ReferralID]>([])
        try await fixture.test { client in
            #expect(try await becomesReady(client))
            try disk.fill()
            var statuses: [HTTPResponse.Status] = []
            for index in 0..<200 {
                let status = try await client.execute(
                    uri: "/v1/referrals", method: .post,
                    headers: headers(key: GatewayFixture.referrerKey, extra: [("Idempotency-Key", "full-disk-\(index)")]),
                    body: ByteBuffer(data: try exampleReferral())
                ) { response in
                    if response.status == .accepted {
                        let receipt = try JSONDecoder().decode(SubmissionReceipt.self, from: Data(buffer: response.body))
                        acknowledged.withLock { $0.append(receipt.id) }
                    } else {
                        #expect(response.status == .serviceUnavailable)
                        #expect(response.headers[.retryAfter] != nil)
                        try expectProblem(response, "urn:switchboard:problem:storage-unavailable")
                        #expect(try response.problem().detail.contains("the disk holding the database is full"))
                    }
                    return response.status
                }
                statuses.append(status)
                if statuses.suffix(3) == [.serviceUnavailable, .serviceUnavailable, .serviceUnavailable] { break }
            }
            #expect(statuses.last == .serviceUnavailable, "the disk filled: \(statuses.count) tries")
            #expect(!statuses.contains(.internalServerError))
            // Probes within a second share an answer.
            try await Task.sleep(for: .milliseconds(1_100))
            let (status, ready) = try await readiness(client)
            #expect(status == .serviceUnavailable && ready.store.contains("full"), "\(ready)")

            // Space comes back: the same gateway takes referrals again, without a restart.
            try disk.free()
            try await Task.sleep(for: .milliseconds(1_100))
            #expect(try await becomesReady(client))
            try await client.execute(
                uri: "/v1/referrals", method: .post, headers: headers(key: GatewayFixture.referrerKey),
                body: ByteBuffer(data: try exampleReferral("referral-crisis"))
            ) { response in
                #expect(response.status == .accepted)
                if let receipt = try? JSONDecoder().decode(SubmissionReceipt.self, from: Data(buffer: response.body)) {
                    acknowledged.withLock { $0.append(receipt.id) }
                }
            }
            // Everything acknowledged is stored.
            for id in acknowledged.withLock({ $0 }) {
                try await client.execute(uri: "/v1/referrals/\(id)", method: .get, headers: headers(key: GatewayFixture.adminKey)) {
                    #expect($0.status == .ok, "\(id) was acknowledged")
                }
            }
        }
        #expect(try fixture.count("referrals") == acknowledged.withLock { $0.count })
    }
}
