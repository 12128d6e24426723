import Audit
import Crypto
import Foundation
import ReferralModel
import Settings
import Storage
import Synchronization
import _CryptoExtras

/// How sign-in talks to the identity provider: GET a document, POST a form. Deployment fills it in
/// with the gateway's own HTTP client (libcurl).
public struct ProviderHTTP: Sendable {
    public var get: @Sendable (_ url: String) async throws -> (status: Int, body: [UInt8])
    public var postForm: @Sendable (_ url: String, _ form: [(String, String)], _ authorization: String?) async throws -> (status: Int, body: [UInt8])

    public init(
        get: @escaping @Sendable (String) async throws -> (status: Int, body: [UInt8]),
        postForm: @escaping @Sendable (String, [(String, String)], String?) async throws -> (status: Int, body: [UInt8])
    ) {
        self.get = get
        self.postForm = postForm
    }
}

/// Staff sign-in to the console through an OpenID Connect provider: the authorization code flow
/// with PKCE (S256), a `state` that must come back to the browser that started, a `nonce` the ID
/// token must carry, and the ID token verified against the provider's published keys (JWKS: RS256,
/// RS384, RS512 or ES256), its issuer, audience and lifetime. A claim maps the person to a role.
public final class StaffSignIn: Sendable {
    public static let cookieName = "switchboard_oidc"
    public let settings: StaffSignInSettings
    let http: ProviderHTTP
    let clock: any WallClock
    /// The discovery document and the provider's keys, read once and again when a token names a
    /// key not yet seen (the provider rotated its keys).
    private let cache = Mutex<(discovery: Discovery?, keys: [String: [String: JSONValue]])>((nil, [:]))

    struct Discovery: Sendable {
        var issuer: String
        var authorization: String
        var token: String
        var jwks: String
    }

    public init(settings: StaffSignInSettings, http: ProviderHTTP, clock: any WallClock) {
        self.settings = settings
        self.http = http
        self.clock = clock
    }

    /// Why sign-in did not complete, in words for the person at the browser.
    public struct Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// What the browser keeps between leaving for the provider and coming back (a cookie only the
    /// console reads, for ten minutes): never sent anywhere else.
    struct Pending: Codable {
        var state: String
        var nonce: String
        var verifier: String
        var next: String
        var redirect: String
        var expires: Double
    }

    /// Where to send the browser, and the cookie to set on it.
    public struct Started: Sendable {
        public var location: String
        public var cookie: String
    }

    /// The person the provider vouched for, as the console knows them.
    public struct Person: Sendable, Equatable, Codable {
        public var id: String
        public var name: String
        public var role: Role
        public var agency: String?

        /// The person as a request's authority: no key, no organisations.
        public var holder: KeyHolder { KeyHolder(id: id, owner: name, role: role, organisations: nil, agency: agency) }
    }

    public func start(redirectURL: String, next: String) async throws -> Started {
        let discovery = try await discover()
        let pending = Pending(
            state: ConsoleSessions.randomToken(), nonce: ConsoleSessions.randomToken(), verifier: ConsoleSessions.randomToken(), next: next,
            redirect: redirectURL, expires: clock.now().addingTimeInterval(600).timeIntervalSince1970)
        let challenge = Self.base64URL(Data(SHA256.hash(data: Data(pending.verifier.utf8))))
        var url = URLComponents(string: discovery.authorization) ?? URLComponents()
        url.queryItems =
            (url.queryItems ?? []) + [
                URLQueryItem(name: "response_type", value: "code"), URLQueryItem(name: "client_id", value: settings.clientId),
                URLQueryItem(name: "redirect_uri", value: redirectURL), URLQueryItem(name: "scope", value: "openid profile email"),
                URLQueryItem(name: "state", value: pending.state), URLQueryItem(name: "nonce", value: pending.nonce),
                URLQueryItem(name: "code_challenge", value: challenge), URLQueryItem(name: "code_challenge_method", value: "S256"),
            ]
        let cookie = Self.base64URL(try JSONEncoder().encode(pending))
        return Started(location: url.string ?? discovery.authorization, cookie: cookie)
    }

    /// Completes sign-in with what the provider sent back: the person, and where they were going.
    public func finish(code: String?, state: String?, error: String?, cookie: String?) async throws -> (person: Person, next: String) {
        guard let cookie, let data = Self.base64URLDecode(cookie), let pending = try? JSONDecoder().decode(Pending.self, from: data),
            pending.expires > clock.now().timeIntervalSince1970
        else {
            throw Refusal("Sign-in was not started in this browser, or took longer than ten minutes. Start again.")
        }
        guard let state, ConsoleSessions.same(state, pending.state) else {
            throw Refusal("The answer from the identity provider does not belong to the sign-in this browser started. Start again.")
        }
        if let error { throw Refusal("The identity provider did not sign you in (\(Self.printable(error))).") }
        guard let code, !code.isEmpty else { throw Refusal("The identity provider sent no authorization code. Start again.") }
        let discovery = try await discover()
        let form = [
            ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", pending.redirect), ("code_verifier", pending.verifier),
            ("client_id", settings.clientId),
        ]
        // A confidential client authenticates with its secret (client_secret_basic); a public one by PKCE alone.
        let authorization = settings.clientSecret.map {
            "Basic " + Data("\(Self.formEncoded(settings.clientId)):\(Self.formEncoded($0))".utf8).base64EncodedString()
        }
        let answer = try await call { try await self.http.postForm(discovery.token, form, authorization) }
        guard answer.status == 200, case .object(let body)? = try? JSONParser.parse(answer.body), case .string(let token)? = body["id_token"]
        else {
            throw Refusal("The identity provider refused to complete sign-in (HTTP \(answer.status)). Start again.")
        }
        let claims = try await verify(token, nonce: pending.nonce, discovery: discovery)
        return (try person(claims), pending.next)
    }

    // MARK: The ID token

    func verify(_ token: String, nonce: String, discovery: Discovery) async throws -> JSONObject {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerData = Self.base64URLDecode(String(parts[0])), let payloadData = Self.base64URLDecode(String(parts[1])),
            let signature = Self.base64URLDecode(String(parts[2])), case .object(let header)? = try? JSONParser.parse(Array(headerData)),
            case .object(let claims)? = try? JSONParser.parse(Array(payloadData)), case .string(let algorithm)? = header["alg"]
        else { throw Refusal("The identity provider's token could not be read.") }
        let kid = header["kid"].flatMap { if case .string(let kid) = $0 { kid } else { nil } } ?? ""
        guard let key = try await key(kid) else { throw Refusal("The identity provider's token is signed with a key it does not publish.") }
        let input = Data(parts[0].utf8) + Data(".".utf8) + Data(parts[1].utf8)
        guard Self.isValid(signature: signature, of: input, algorithm: algorithm, key: key) else {
            throw Refusal("The identity provider's token is not signed by the provider.")
        }
        let now = clock.now().timeIntervalSince1970
        func string(_ name: String) -> String? { if case .string(let value)? = claims[name] { value } else { nil } }
        func number(_ name: String) -> Double? { if case .number(let value, _)? = claims[name] { value } else { nil } }
        let audiences: [String] =
            switch claims["aud"] {
            case .string(let one)?: [one]
            case .array(let many)?: many.compactMap { if case .string(let value) = $0 { value } else { nil } }
            default: []
            }
        guard string("iss") == discovery.issuer, audiences.contains(settings.clientId),
            audiences.count == 1 || string("azp") == nil || string("azp") == settings.clientId
        else { throw Refusal("The identity provider's token was not issued to this gateway by \(settings.issuer).") }
        guard let expires = number("exp"), expires > now - 60, (number("iat") ?? now) < now + 300 else {
            throw Refusal("The identity provider's token has expired. Start again.")
        }
        guard let said = string("nonce"), ConsoleSessions.same(said, nonce) else {
            throw Refusal("The identity provider's token does not belong to the sign-in this browser started. Start again.")
        }
        return claims
    }

    static func isValid(signature: Data, of input: Data, algorithm: String, key: [String: JSONValue]) -> Bool {
        func bytes(_ name: String) -> Data? { if case .string(let value)? = key[name] { base64URLDecode(value) } else { nil } }
        switch algorithm {
        case "RS256", "RS384", "RS512":
            guard let n = bytes("n"), let e = bytes("e"), let publicKey = try? _RSA.Signing.PublicKey(n: n, e: e) else { return false }
            let signature = _RSA.Signing.RSASignature(rawRepresentation: signature)
            switch algorithm {
            case "RS256": return publicKey.isValidSignature(signature, for: SHA256.hash(data: input), padding: .insecurePKCS1v1_5)
            case "RS384": return publicKey.isValidSignature(signature, for: SHA384.hash(data: input), padding: .insecurePKCS1v1_5)
            default: return publicKey.isValidSignature(signature, for: SHA512.hash(data: input), padding: .insecurePKCS1v1_5)
            }
        case "ES256":
            guard let x = bytes("x"), let y = bytes("y"), let publicKey = try? P256.Signing.PublicKey(rawRepresentation: x + y),
                let signature = try? P256.Signing.ECDSASignature(rawRepresentation: signature)
            else { return false }
            return publicKey.isValidSignature(signature, for: SHA256.hash(data: input))
        default:
            // `none`, HMAC and anything else: a token this gateway did not ask the provider to sign.
            return false
        }
    }

    /// The person, and the role their claim grants: the first of admin, governance, operations and
    /// agency among the claim's values that `roles` maps.
    func person(_ claims: JSONObject) throws -> Person {
        let values: [String] =
            switch claims[settings.roleClaim] {
            case .string(let one)?: [one]
            case .array(let many)?: many.compactMap { if case .string(let value) = $0 { value } else { nil } }
            default: []
            }
        let granted = values.compactMap { settings.roles[$0] }
        let order: [Role] = [.admin, .governance, .operations, .agency]
        guard let role = granted.min(by: { (order.firstIndex(of: $0.role) ?? 9) < (order.firstIndex(of: $1.role) ?? 9) }) else {
            throw Refusal(
                "Your account is known to the identity provider but has no Switchboard role. Ask your administrator to give it one (\(settings.roleClaim))."
            )
        }
        func string(_ name: String) -> String? { if case .string(let value)? = claims[name] { value } else { nil } }
        guard let subject = string("sub"), !subject.isEmpty else { throw Refusal("The identity provider's token names nobody.") }
        let name = string("name") ?? string("preferred_username") ?? string("email") ?? subject
        return Person(id: "oidc:" + Self.printable(subject), name: Self.printable(name), role: role.role, agency: role.agency)
    }

    // MARK: Discovery and keys

    func discover() async throws -> Discovery {
        if let known = cache.withLock({ $0.discovery }) { return known }
        let answer = try await call { try await self.http.get(self.settings.issuer + "/.well-known/openid-configuration") }
        func field(_ object: JSONObject, _ name: String) -> String? { if case .string(let value)? = object[name] { value } else { nil } }
        guard answer.status == 200, case .object(let document)? = try? JSONParser.parse(answer.body),
            let issuer = field(document, "issuer"), let authorization = field(document, "authorization_endpoint"),
            let token = field(document, "token_endpoint"), let jwks = field(document, "jwks_uri")
        else {
            throw Refusal("The identity provider at \(settings.issuer) did not describe itself (HTTP \(answer.status)). Try again later.")
        }
        guard issuer == settings.issuer else {
            throw Refusal("The identity provider says its issuer is \(Self.printable(issuer)), not \(settings.issuer): check console.oidc.issuer.")
        }
        let discovery = Discovery(issuer: issuer, authorization: authorization, token: token, jwks: jwks)
        cache.withLock { $0.discovery = discovery }
        return discovery
    }

    func key(_ kid: String) async throws -> [String: JSONValue]? {
        if let known = cache.withLock({ $0.keys[kid] }) { return known }
        let discovery = try await discover()
        let answer = try await call { try await self.http.get(discovery.jwks) }
        guard answer.status == 200, case .object(let document)? = try? JSONParser.parse(answer.body), case .array(let keys)? = document["keys"]
        else { throw Refusal("The identity provider's keys could not be read (HTTP \(answer.status)). Try again later.") }
        var found: [String: [String: JSONValue]] = [:]
        for case .object(let key) in keys {
            let id = key["kid"].flatMap { if case .string(let id) = $0 { id } else { nil } } ?? ""
            found[id] = Dictionary(key.members.map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first })
        }
        cache.withLock { $0.keys = found }
        return found[kid]
    }

    private func call(_ work: () async throws -> (status: Int, body: [UInt8])) async throws -> (status: Int, body: [UInt8]) {
        do { return try await work() } catch let refusal as Refusal { throw refusal } catch {
            throw Refusal("The identity provider at \(settings.issuer) cannot be reached. Try again later, or sign in with your key.")
        }
    }

    // MARK: Encodings

    public static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func base64URLDecode(_ text: String) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        return Data(base64Encoded: base64)
    }

    public static func formEncoded(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    /// Text from the provider fit to show and record: plain characters, at most 100.
    static func printable(_ text: String) -> String {
        String(text.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7f }.prefix(100).map(Character.init))
    }
}
