import AdapterKit
import Crypto
import Foundation
import Hummingbird
import JSONWebhookAdapter
import Logging
import NIOCore
import ReferralModel
import Storage
import SwitchboardTesting
import Synchronization
import Testing
import Transport
import _CryptoExtras

@testable import Delivery

/// A stand-in for the NHS API platform on loopback: its token endpoint checks each client
/// assertion with the registered public key as the platform does (RS512, kid, iss = sub = client
/// id, aud = the token URL, a jti never seen before, exp at most five minutes ahead) and issues
/// tokens; behind it, the agency accepts only a token it issued and has not revoked.
final class TokenPlatform: Sendable {
    struct State {
        var issued: [String] = []
        var revoked: Set<String> = []
        var jtis: Set<String> = []
        var refusals: [String] = []
        var delivered = 0
    }

    /// The platform's record, shared with its route handlers.
    final class Record: Sendable {
        let lock = Mutex(State())
        func withLock<T>(_ body: (inout State) -> T) -> T { lock.withLock { body(&$0) } }
    }

    let port: Int
    let state = Record()
    private let task: Task<Void, any Error>
    var tokenURL: String { "http://127.0.0.1:\(port)/oauth2/token" }

    /// - Parameter clock: the platform's time, the gateway's own in these tests.
    init(publicKey: _RSA.Signing.PublicKey, clientId: String, keyId: String, clock: any WallClock = SystemClock()) async throws {
        let router = Router()
        let state = state
        let portBox = Record()
        router.post("oauth2/token") { request, _ -> Response in
            let body = String(buffer: try await request.body.collect(upTo: 65_536))
            var form: [String: String] = [:]
            for pair in body.split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? "" }
                if parts.count == 2 { form[parts[0]] = parts[1] }
            }
            let tokenURL = "http://127.0.0.1:\(portBox.withLock { $0.delivered })/oauth2/token"
            if let problem = Self.check(
                form, publicKey: publicKey, clientId: clientId, keyId: keyId, tokenURL: tokenURL, now: clock.now(), state: state)
            {
                state.withLock { $0.refusals.append(problem) }
                return Response(status: .unauthorized, body: .init(byteBuffer: ByteBuffer(string: #"{"error": "invalid_client"}"#)))
            }
            let token = state.withLock { state -> String in
                state.issued.append("token-\(state.issued.count + 1)")
                return state.issued.last!
            }
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: #"{"access_token": "\#(token)", "expires_in": "599", "token_type": "Bearer"}"#)))
        }
        router.post("referrals") { request, _ -> Response in
            let token = request.headers[.authorization]?.replacingOccurrences(of: "Bearer ", with: "") ?? ""
            let valid = state.withLock { state in
                guard state.issued.contains(token), !state.revoked.contains(token) else { return false }
                state.delivered += 1
                return true
            }
            return Response(status: valid ? .accepted : .unauthorized)
        }
        (port, task) = await serveOnLoopback(router, label: "token-platform")
        portBox.withLock { $0.delivered = port }
    }

    func stop() { task.cancel() }

    /// Nil when the assertion is one the platform accepts, else why not.
    static func check(
        _ form: [String: String], publicKey: _RSA.Signing.PublicKey, clientId: String, keyId: String, tokenURL: String, now date: Date, state: Record
    ) -> String? {
        guard form["grant_type"] == "client_credentials" else { return "grant_type" }
        guard form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" else { return "assertion type" }
        let parts = (form["client_assertion"] ?? "").split(separator: ".").map(String.init)
        guard parts.count == 3, let header = json(parts[0]), let claims = json(parts[1]), let signature = bytes(parts[2]) else { return "shape" }
        guard header["alg"] as? String == "RS512", header["kid"] as? String == keyId else { return "header \(header)" }
        let valid = publicKey.isValidSignature(
            _RSA.Signing.RSASignature(rawRepresentation: signature), for: SHA512.hash(data: Array("\(parts[0]).\(parts[1])".utf8)),
            padding: .insecurePKCS1v1_5)
        guard valid else { return "signature" }
        guard claims["iss"] as? String == clientId, claims["sub"] as? String == clientId, claims["aud"] as? String == tokenURL else {
            return "claims \(claims)"
        }
        let expiry = (claims["exp"] as? Double) ?? 0
        let now = date.timeIntervalSince1970
        guard expiry > now, expiry <= now + 300 + 5 else { return "exp \(expiry) against \(now)" }
        guard let jti = claims["jti"] as? String, state.withLock({ $0.jtis.insert(jti).inserted }) else { return "jti reused" }
        return nil
    }

    static func bytes(_ text: String) -> [UInt8]? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64).map(Array.init)
    }

    static func json(_ text: String) -> [String: Any]? {
        bytes(text).flatMap { try? JSONSerialization.jsonObject(with: Data($0)) as? [String: Any] }
    }
}

@Suite(.serialized) struct NHSAPIPlatformTests {
    @Test func oneTokenServesManyDeliveriesAndAnExpiredOrRefusedOneIsReplaced() async throws {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let clock = ManualClock(now: Date())
        let platform = try await TokenPlatform(publicKey: key.publicKey, clientId: "switchboard-app", keyId: "switchboard-1", clock: clock)
        defer { platform.stop() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-nhs-\(UUID().uuidString)")
        let store = try SQLiteStore(path: directory.appendingPathComponent("store.sqlite").path, exclusive: true)
        let transport = CurlTransport.started()
        defer { transport.shutdown() }
        let tokens = try NHSAccessTokens(
            tokenURL: platform.tokenURL, clientId: "switchboard-app", keyId: "switchboard-1", privateKeyPEM: key.pemRepresentation,
            transport: transport, clock: clock)
        var target = DeliveryTarget(
            agencyId: "agency", endpoint: "http://127.0.0.1:\(platform.port)/referrals",
            adapter: try JSONWebhookAdapter(setup: AdapterSetup(configDirectory: URL(fileURLWithPath: "/tmp"), agencyId: "agency")),
            signer: nil, connectTimeout: 1, totalTimeout: 10)
        target.tokens = tokens
        let dispatcher = Dispatcher(queue: store, targets: [target], transport: transport, logger: Logger(label: "nhs"))

        func deliverOne() async throws -> ReferralReport.Delivery {
            let now = Date()
            let id = ReferralID.make(now: now)
            _ = try await store.accept(
                IntakeRecord(
                    referralId: id, receivedAt: now, actor: "gp", referral: ExampleReferrals.complete, rulesVersion: "v",
                    deliveries: [NewDelivery(route: Route(agency: "agency", rule: "r", deliveryId: DeliveryID.make(now: now)))], audit: [],
                    idempotency: nil))
            let demands = dispatcher.book.withLock { $0.demands(now: Date(), globalFree: 16).demands }
            for job in try await store.leaseDueDeliveries(now: Date(), lanes: demands) {
                dispatcher.book.withLock { $0.started(agency: job.agency) }
                await dispatcher.deliver(job)
            }
            return try #require(try await store.report(referralId: id)?.deliveries.first)
        }

        for _ in 0..<5 { #expect(try await deliverOne().state == .delivered) }
        #expect(platform.state.withLock { $0.refusals } == [], "every assertion verified with the public key")
        #expect(await tokens.exchanges == 1, "one token served five deliveries")
        // Ten minutes on, the token has expired: a new one is fetched before the next delivery.
        clock.advance(by: 600)
        #expect(try await deliverOne().state == .delivered)
        #expect(await tokens.exchanges == 2)
        // The platform revokes the token: the agency's 401 brings one new token, and the same attempt goes through.
        platform.state.withLock { state in _ = state.revoked.insert(state.issued.last!) }
        let delivery = try await deliverOne()
        #expect(delivery.state == .delivered && delivery.attempts == 1)
        #expect(await tokens.exchanges == 3)
        #expect(platform.state.withLock { $0.delivered } == 7)
        #expect(platform.state.withLock { $0.jtis }.count == 3, "each assertion has its own jti")
    }

    @Test func aRefusedAssertionIsARetryNamingThePlatformsCodeAlone() async throws {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let other = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let platform = try await TokenPlatform(publicKey: other.publicKey, clientId: "switchboard-app", keyId: "switchboard-1")
        defer { platform.stop() }
        let transport = CurlTransport.started()
        defer { transport.shutdown() }
        let tokens = try NHSAccessTokens(
            tokenURL: platform.tokenURL, clientId: "switchboard-app", keyId: "switchboard-1", privateKeyPEM: key.pemRepresentation,
            transport: transport)
        await #expect(throws: NHSAccessTokens.Failure.self) { try await tokens.token() }
        do {
            _ = try await tokens.token()
        } catch {
            #expect("\(error)" == "the NHS API platform refused an access token: HTTP 401 invalid_client")
        }
        #expect(platform.state.withLock { $0.refusals } == ["signature", "signature"])
    }
}
