import Foundation
import Yams

/// `console: {oidc: {...}}`: staff sign in to the console through the organisation's own identity
/// provider (NHS CIS2, Entra ID, any OpenID Connect provider), with the authorization code flow and
/// PKCE. Keys and passwords stay for small deployments.
public struct StaffSignInSettings: Sendable, Equatable {
    /// The provider's issuer URL; its discovery document is read from
    /// `{issuer}/.well-known/openid-configuration`.
    public var issuer: String
    public var clientId: String
    /// The client secret, read from `client_secret_env`; nil for a public client (PKCE alone).
    public var clientSecret: String?
    public var clientSecretEnv: String?
    /// The ID token claim that carries the person's roles (a string or a list of strings).
    public var roleClaim: String
    /// Which claim value grants which console role: `admin`, `operations`, `governance`, or
    /// `agency:ID` (staff of that agency, at its inbox).
    public var roles: [String: StaffRole]
    /// Where the provider sends the person back: `https://gateway.example/console/oidc/callback`,
    /// registered with the provider. Nil: made from the request's own address.
    public var redirectURL: String?
    /// What the sign-in button says: "Sign in with …".
    public var name: String

    public init(
        issuer: String, clientId: String, clientSecret: String? = nil, roleClaim: String = "roles", roles: [String: StaffRole],
        redirectURL: String? = nil, name: String = "your organisation's account"
    ) {
        self.issuer = issuer
        self.clientId = clientId
        self.clientSecret = clientSecret
        self.roleClaim = roleClaim
        self.roles = roles
        self.redirectURL = redirectURL
        self.name = name
    }
}

/// A console role an identity provider's claim grants.
public struct StaffRole: Sendable, Equatable {
    public var role: Role
    /// For `agency:ID`, the agency.
    public var agency: String?

    public init(role: Role, agency: String? = nil) {
        self.role = role
        self.agency = agency
    }

    /// `admin`, `operations`, `governance` or `agency:ID`; nil for anything else (a referrer signs
    /// in with a key, which names the organisations it submits for).
    public init?(_ text: String) {
        if text.hasPrefix("agency:"), isIdentifier(String(text.dropFirst("agency:".count))) {
            self.init(role: .agency, agency: String(text.dropFirst("agency:".count)))
            return
        }
        guard let role = Role(rawValue: text), [.admin, .operations, .governance].contains(role) else { return nil }
        self.init(role: role)
    }
}

extension SectionReader {
    func staffSignIn(_ node: Node?, environment: [String: String], requireSecrets: Bool) -> StaffSignInSettings? {
        guard let node, let console = reader.mapping(node, "console", allowed: ["oidc"]), let oidcNode = console["oidc"] else { return nil }
        guard
            let entries = reader.mapping(
                oidcNode, "oidc", allowed: ["issuer", "client_id", "client_secret_env", "role_claim", "roles", "redirect_url", "name"],
                required: ["issuer", "client_id", "roles"]),
            let issuer = reader.string(entries["issuer"], "issuer"), let clientId = reader.string(entries["client_id"], "client_id")
        else { return nil }
        let loopback = ["127.0.0.1", "localhost", "[::1]", "::1"]
        guard let url = URLComponents(string: issuer), let host = url.host,
            url.scheme == "https" || (url.scheme == "http" && loopback.contains(host))
        else {
            reader.fail(
                entries["issuer"], "console.oidc.issuer '\(issuer)' is not an https URL",
                hint: "give the provider's issuer, such as https://login.microsoftonline.com/TENANT/v2.0 (http only on loopback, for tests)")
            return nil
        }
        var settings = StaffSignInSettings(issuer: issuer.hasSuffix("/") ? String(issuer.dropLast()) : issuer, clientId: clientId, roles: [:])
        settings.roleClaim = reader.string(entries["role_claim"], "role_claim") ?? "roles"
        settings.name = reader.string(entries["name"], "name") ?? settings.name
        settings.redirectURL = reader.string(entries["redirect_url"], "redirect_url")
        if let name = reader.string(entries["client_secret_env"], "client_secret_env") {
            settings.clientSecretEnv = name
            settings.clientSecret = environment[name].flatMap { $0.isEmpty ? nil : $0 }
            if settings.clientSecret == nil, requireSecrets {
                reader.fail(
                    entries["client_secret_env"], "environment variable \(name) is not set",
                    hint: "the client secret the identity provider issued for this gateway")
            }
        }
        if case .mapping(let roles)? = entries["roles"] {
            for (key, node) in roles {
                let value = key.string ?? ""
                guard let text = node.string, let role = StaffRole(text) else {
                    reader.fail(
                        node, "console.oidc.roles maps '\(value)' to '\(node.string ?? "")', which is not a console role",
                        hint: "use admin, operations, governance or agency:AGENCY-ID")
                    continue
                }
                settings.roles[value] = role
            }
        } else {
            reader.fail(
                entries["roles"], "console.oidc.roles must map claim values to roles",
                hint: "roles: { Switchboard.Admin: admin, Switchboard.IG: governance }")
        }
        return settings
    }
}
