import Foundation
import Yams

extension Agency {
    /// How the gateway proves itself to the agency's endpoint, beyond the Standard Webhooks
    /// signature: a header whose secret value comes from an environment variable.
    public enum Authorization: Sendable, Equatable {
        /// `Authorization: Bearer <token>`.
        case bearer(tokenEnv: String)
        /// `Authorization: Basic base64(user:password)`.
        case basic(user: String, passwordEnv: String)
        /// A header the agency names, such as `X-Api-Key`.
        case header(name: String, valueEnv: String)
        /// The NHS API platform's signed JWT client assertion, exchanged for a short-lived access token.
        case nhsAPIPlatform(NHSAPIPlatform)

        /// The environment variable holding the secret; nil for the NHS API platform, whose key is a file.
        public var environmentName: String? {
            switch self {
            case .bearer(let name), .basic(_, let name), .header(_, let name): name
            case .nhsAPIPlatform: nil
            }
        }

        /// The header to send, given the secret; nil for the NHS API platform, whose token is fetched.
        public func header(secret: String) -> (name: String, value: String)? {
            switch self {
            case .bearer: ("Authorization", "Bearer \(secret)")
            case .basic(let user, _): ("Authorization", "Basic " + Data("\(user):\(secret)".utf8).base64EncodedString())
            case .header(let name, _): (name, secret)
            case .nhsAPIPlatform: nil
            }
        }
    }

    /// `auth: {nhs_api_platform: {token_url, client_id, key_id, private_key_file}}`: the application
    /// registered with the NHS API platform (its API key as `client_id`), the `kid` its public key is
    /// published under, and the RSA private key (PEM) the gateway signs its client assertions with.
    public struct NHSAPIPlatform: Sendable, Equatable {
        public var tokenURL: String
        public var clientId: String
        public var keyId: String
        /// Absolute; checked when the configuration loads.
        public var privateKeyFile: String

        public init(tokenURL: String, clientId: String, keyId: String, privateKeyFile: String) {
            self.tokenURL = tokenURL
            self.clientId = clientId
            self.keyId = keyId
            self.privateKeyFile = privateKeyFile
        }
    }

    /// TLS to the agency's https endpoint: which CAs to trust (the system's when none is given)
    /// and, for mutual TLS, the certificate and key to present. Paths are absolute, resolved
    /// against the folder of agencies.yaml.
    public struct TLS: Sendable, Equatable {
        public var caFile: String?
        public var clientCertificate: String?
        public var clientKey: String?

        public init(caFile: String? = nil, clientCertificate: String? = nil, clientKey: String? = nil) {
            self.caFile = caFile
            self.clientCertificate = clientCertificate
            self.clientKey = clientKey
        }
    }
}

extension AgencyDirectory {
    /// `auth: {bearer_env}`, `{basic_user, password_env}`, `{header, value_env}` or `{nhs_api_platform: {…}}`.
    static func authorization(_ node: Node?, file: String, reader: ConfigReader) -> Agency.Authorization? {
        guard let node else { return nil }
        guard
            let entries = reader.mapping(
                node, "auth", allowed: ["bearer_env", "basic_user", "password_env", "header", "value_env", "nhs_api_platform"])
        else { return nil }
        let hint =
            "use {bearer_env: NAME}, {basic_user: USER, password_env: NAME}, {header: X-Api-Key, value_env: NAME} or {nhs_api_platform: {token_url, client_id, key_id, private_key_file}}"
        func environmentName(_ key: String) -> String? {
            guard let name = reader.string(entries[key], key) else { return nil }
            guard isEnvironmentName(name) else {
                reader.fail(
                    entries[key], "\(key) must name an environment variable, such as CRISIS_TEAM_TOKEN",
                    hint: "never write the secret itself in this file")
                return nil
            }
            return name
        }
        let keys = Set(entries.keys)
        switch keys {
        case ["bearer_env"]:
            return environmentName("bearer_env").map { .bearer(tokenEnv: $0) }
        case ["basic_user", "password_env"]:
            guard let user = reader.string(entries["basic_user"], "basic_user"), let password = environmentName("password_env") else { return nil }
            guard !user.contains(":") else {
                reader.fail(entries["basic_user"], "basic_user may not contain ':'")
                return nil
            }
            return .basic(user: user, passwordEnv: password)
        case ["nhs_api_platform"]:
            return nhsAPIPlatform(entries["nhs_api_platform"], file: file, reader: reader).map { .nhsAPIPlatform($0) }
        case ["header", "value_env"]:
            guard let name = reader.string(entries["header"], "header"), let value = environmentName("value_env") else { return nil }
            let reserved = ["content-type", "content-length", "host", "user-agent", "webhook-id", "webhook-timestamp", "webhook-signature"]
            guard isTokenName(name), !reserved.contains(name.lowercased()) else {
                reader.fail(entries["header"], "'\(name)' cannot be an authentication header", hint: "for example X-Api-Key")
                return nil
            }
            return .header(name: name, valueEnv: value)
        default:
            reader.fail(node, "auth must be one way of authenticating", hint: hint)
            return nil
        }
    }

    /// `tls: {ca_file, client_certificate, client_key}`, each file checked now, not at the first delivery.
    static func tls(_ node: Node?, endpoint: String?, file: String, reader: ConfigReader) -> Agency.TLS? {
        guard let node else { return nil }
        guard let entries = reader.mapping(node, "tls", allowed: ["ca_file", "client_certificate", "client_key"]) else { return nil }
        if let endpoint, !endpoint.hasPrefix("https://") {
            reader.fail(node, "tls applies only to an https endpoint", hint: "change the endpoint to https://, or remove tls")
        }
        let folder = URL(fileURLWithPath: file).deletingLastPathComponent()
        func path(_ key: String) -> String? {
            guard let value = reader.string(entries[key], key) else { return nil }
            let resolved = value.hasPrefix("/") ? value : folder.appendingPathComponent(value).path
            guard AgencyEndpoints.isInside(resolved, folder: folder.path) else {
                reader.fail(
                    entries[key], "\(key) '\(value)' is outside the configuration folder",
                    hint: "keep it beside agencies.yaml (for example certs/\(URL(fileURLWithPath: value).lastPathComponent)), or link it there")
                return nil
            }
            guard FileManager.default.isReadableFile(atPath: resolved) else {
                reader.fail(entries[key], "\(key) '\(value)' cannot be read", hint: "paths are relative to the folder of agencies.yaml")
                return nil
            }
            return resolved
        }
        let tls = Agency.TLS(caFile: path("ca_file"), clientCertificate: path("client_certificate"), clientKey: path("client_key"))
        if (entries["client_certificate"] == nil) != (entries["client_key"] == nil) {
            reader.fail(node, "client_certificate and client_key go together", hint: "mutual TLS needs both, as PEM files")
        }
        return tls
    }

    /// An HTTP header name: letters, digits and hyphens.
    private static func isTokenName(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 64
            && text.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }
    }
}
