import Crypto
import Foundation
import ReferralModel
import Transport
import _CryptoExtras

/// Access tokens from the NHS API platform for one agency, by its signed JWT client assertion
/// (RS512, `kid`, `iss` = `sub` = the client id, `aud` = the token URL, a unique `jti`, `exp` five
/// minutes ahead at most) exchanged with `grant_type=client_credentials`. A token is kept until
/// shortly before it expires and shared by every delivery to the agency; concurrent deliveries wait
/// for one exchange; a token the agency refuses (401) is dropped and one new one fetched.
public actor NHSAccessTokens {
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    let tokenURL: String
    let clientId: String
    let keyId: String
    let key: _RSA.Signing.PrivateKey
    let transport: any HTTPTransport
    let clock: any WallClock
    private var current: (token: String, expires: Date)?
    private var exchanging: Task<(token: String, expires: Date), any Error>?
    /// Exchanges made, for tests and metrics: one token serves many deliveries.
    public private(set) var exchanges = 0

    public init(
        tokenURL: String, clientId: String, keyId: String, privateKeyPEM: String, transport: any HTTPTransport, clock: any WallClock = SystemClock()
    ) throws {
        self.tokenURL = tokenURL
        self.clientId = clientId
        self.keyId = keyId
        key = try _RSA.Signing.PrivateKey(pemRepresentation: privateKeyPEM)
        self.transport = transport
        self.clock = clock
    }

    /// A token valid for at least the next 30 seconds, fetched when there is none.
    public func token() async throws -> String {
        let now = clock.now()
        if let current, current.expires.timeIntervalSince(now) > 30 { return current.token }
        if let exchanging { return try await exchanging.value.token }
        let task = Task { try await self.exchange() }
        exchanging = task
        defer { exchanging = nil }
        do {
            let fresh = try await task.value
            current = fresh
            return fresh.token
        } catch {
            throw error
        }
    }

    /// Drops `token` when the agency refused it, so the next `token()` fetches another.
    public func discard(_ token: String) {
        if current?.token == token { current = nil }
    }

    /// The client assertion: a JWT signed RS512 with the registered key.
    func assertion(now: Date) throws -> String {
        let header: [String: Any] = ["alg": "RS512", "typ": "JWT", "kid": keyId]
        let claims: [String: Any] = [
            "iss": clientId, "sub": clientId, "aud": tokenURL, "jti": UUID().uuidString.lowercased(),
            "exp": Int(now.timeIntervalSince1970) + 300,
        ]
        let signingInput =
            Self.base64URL(try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes])) + "."
            + Self.base64URL(try JSONSerialization.data(withJSONObject: claims, options: [.sortedKeys, .withoutEscapingSlashes]))
        let signature = try key.signature(for: SHA512.hash(data: Array(signingInput.utf8)), padding: .insecurePKCS1v1_5)
        return signingInput + "." + Self.base64URL(signature.rawRepresentation)
    }

    private func exchange() async throws -> (token: String, expires: Date) {
        let now = clock.now()
        let form = [
            ("grant_type", "client_credentials"), ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", try assertion(now: now)),
        ].map { "\($0)=\(Self.formEncoded($1))" }.joined(separator: "&")
        exchanges += 1
        let response: HTTPResponse
        do {
            response = try await transport.send(
                HTTPRequest(
                    url: tokenURL, method: "POST",
                    headers: [("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")], body: Array(form.utf8),
                    connectTimeout: 5, totalTimeout: 15))
        } catch {
            throw Failure(description: "the NHS API platform's token endpoint could not be reached: \(error.message)")
        }
        let object = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any]
        guard response.status == 200, let token = object?["access_token"] as? String, !token.isEmpty else {
            // Its error codes only (`invalid_client`, …): never its description, which is the platform's own text.
            let code = (object?["error"] as? String).flatMap { $0.count <= 64 && $0.allSatisfy { $0.isLetter || $0 == "_" } ? $0 : nil }
            throw Failure(description: "the NHS API platform refused an access token: HTTP \(response.status)\(code.map { " \($0)" } ?? "")")
        }
        // The platform writes expires_in as a string of seconds; either form is read.
        let seconds = (object?["expires_in"] as? Double) ?? (object?["expires_in"] as? String).flatMap(Double.init) ?? 300
        return (token, now.addingTimeInterval(seconds))
    }

    static func base64URL<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func formEncoded(_ value: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
    }
}

extension HTTPRequest {
    /// The request with `Authorization: Bearer token` in place of any authorization it had.
    func bearing(_ token: String) -> HTTPRequest {
        var copy = self
        copy.headers.removeAll { $0.name.lowercased() == "authorization" }
        copy.headers.append(("Authorization", "Bearer \(token)"))
        return copy
    }
}
