import Foundation
import ReferralModel
import Yams

/// `api_keys`: each key's id, role, owner, expiry, digest (or the variable holding the key), the
/// organisations or agency it is bound to, and a referrer key's callback.
extension SectionReader {
    func apiKeys(_ node: Node?, environment: [String: String], requireSecrets: Bool) -> [APIKey] {
        var keys: [APIKey] = []
        var seen: Set<String> = []
        for item in reader.sequence(node, "api_keys") ?? [] {
            guard
                let entry = reader.mapping(
                    item, "an API key",
                    allowed: [
                        "id", "role", "sha256", "key_env", "organisations", "agency", "callback", "owner", "expires", "signature",
                    ],
                    required: ["id", "role"])
            else { continue }
            let id = reader.string(entry["id"], "id")
            if let id, !seen.insert(id).inserted { reader.fail(entry["id"], "API key id '\(id)' is used twice") }
            let roleText = reader.string(entry["role"], "role")
            let role = roleText.flatMap(Role.init(rawValue:))
            if roleText != nil, role == nil { reader.fail(entry["role"], "role must be referrer, agency or admin") }
            let digest = keyDigest(entry, item: item, environment: environment, requireSecrets: requireSecrets)
            let organisations = self.organisations(entry["organisations"], role: role)
            let agency = entry["agency"].flatMap { reader.string($0, "agency") }
            if agency != nil, let role, role != .agency {
                reader.fail(entry["agency"], "only an agency key names an agency", hint: "remove agency from this \(role.rawValue) key")
            }
            let callback = self.callback(entry["callback"], role: role, environment: environment, requireSecrets: requireSecrets)
            let signature = self.signature(entry["signature"], role: role, environment: environment, requireSecrets: requireSecrets)
            let owner = entry["owner"].flatMap { reader.string($0, "owner") }
            var expiresAt: Date?
            if let node = entry["expires"], let text = reader.string(node, "expires") {
                expiresAt = SwitchboardSettings.instant(text)
                if expiresAt == nil {
                    reader.fail(node, "expires '\(text)' is not a date", hint: "write YYYY-MM-DD (the end of that day, UK time) or an RFC 3339 time")
                }
            }
            if let id, let role, let digest {
                var key = APIKey(id: id, role: role, digest: digest, organisations: organisations, agency: agency)
                key.callback = callback
                key.signature = signature
                key.owner = owner
                key.expiresAt = expiresAt
                keys.append(key)
            }
        }
        return keys
    }

    /// A referrer key's `callback: {url, secret_env}`.
    fileprivate func callback(_ node: Node?, role: Role?, environment: [String: String], requireSecrets: Bool) -> APIKey.Callback? {
        guard let node, let entries = reader.mapping(node, "callback", allowed: ["url", "secret_env"], required: ["url"]) else { return nil }
        if let role, role != .referrer {
            reader.fail(node, "only a referrer key has a callback", hint: "remove callback from this \(role.rawValue) key")
        }
        guard let url = reader.string(entries["url"], "url") else { return nil }
        if !(url.hasPrefix("https://") || url.hasPrefix("http://")) || URL(string: url)?.host == nil {
            reader.fail(
                entries["url"], "callback url '\(url)' is not an http or https URL", hint: "for example https://gp-system.example.nhs.uk/switchboard")
        }
        let name = reader.string(entries["secret_env"], "secret_env")
        let secret = name.flatMap { environment[$0] }.flatMap { $0.isEmpty ? nil : $0 }
        if let name, secret == nil, requireSecrets {
            reader.fail(entries["secret_env"], "environment variable \(name) is not set", hint: "export \(name)=whsec_<base64 key>")
        }
        return APIKey.Callback(url: url, secretEnv: name, secret: secret)
    }

    /// A referrer key's `signature: {secret_env}`: its system signs each request (Standard Webhooks)
    /// with the secret in that variable, and unsigned requests from it are refused.
    fileprivate func signature(_ node: Node?, role: Role?, environment: [String: String], requireSecrets: Bool) -> APIKey.Signature? {
        guard let node, let entries = reader.mapping(node, "signature", allowed: ["secret_env"], required: ["secret_env"]) else { return nil }
        if let role, role != .referrer {
            reader.fail(node, "only a referrer key signs what it sends", hint: "remove signature from this \(role.rawValue) key")
        }
        guard let name = reader.string(entries["secret_env"], "secret_env") else { return nil }
        guard isEnvironmentName(name) else {
            reader.fail(entries["secret_env"], "secret_env must name an environment variable", hint: "never write the secret itself in this file")
            return nil
        }
        let secret = environment[name].flatMap { $0.isEmpty ? nil : $0 }
        if let secret, !secret.hasPrefix("whsec_") || Data(base64Encoded: String(secret.dropFirst(6))) == nil {
            reader.fail(entries["secret_env"], "environment variable \(name) does not hold a signing secret", hint: "whsec_ followed by base64")
        } else if secret == nil, requireSecrets {
            reader.fail(entries["secret_env"], "environment variable \(name) is not set", hint: "export \(name)=whsec_<base64 key>")
        }
        return APIKey.Signature(secretEnv: name, secret: secret)
    }

    /// A referrer key's `organisations`: ODS codes, each once.
    fileprivate func organisations(_ node: Node?, role: Role?) -> Set<String>? {
        guard let node, let codes = reader.strings(node, "organisations") else { return nil }
        if let role, role != .referrer {
            reader.fail(node, "only a referrer key names organisations", hint: "remove organisations from this \(role.rawValue) key")
        }
        if codes.isEmpty { reader.fail(node, "organisations must list at least one ODS code") }
        for (code, item) in zip(codes, listItems(node)) where !ODSCode.isValid(code) {
            reader.fail(
                item, "'\(code)' is not an organisation code",
                hint:
                    "the code referrals name as referrer.organisation: an ODS code such as A81001, a GSS code such as E10000025, a charity number, or SELF"
            )
        }
        if Set(codes).count != codes.count { reader.fail(node, "organisations lists a code twice") }
        return Set(codes)
    }

    /// The key's digest, given as `sha256` or read from the environment variable `key_env` names.
    fileprivate func keyDigest(_ entry: [String: Node], item: Node, environment: [String: String], requireSecrets: Bool) -> [UInt8]? {
        switch (entry["sha256"], entry["key_env"]) {
        case (let node?, nil):
            guard let hex = reader.string(node, "sha256") else { return nil }
            let digest = APIKey.bytes(fromHex: hex)
            if digest?.count != 32 {
                reader.fail(node, "sha256 must be 64 hexadecimal characters", hint: "printf %s \"$KEY\" | sha256sum")
                return nil
            }
            return digest
        case (nil, let node?):
            guard let name = reader.string(node, "key_env") else { return nil }
            guard let key = environment[name], !key.isEmpty else {
                if requireSecrets {
                    reader.fail(node, "environment variable \(name) is not set", hint: "export \(name)=<key> before starting the gateway")
                }
                return nil
            }
            if key.utf8.count < 16 {
                reader.fail(node, "the key in $\(name) is shorter than 16 characters", hint: "use a long random key: openssl rand -hex 32")
            }
            return APIKey.digest(of: key)
        case (.some, .some):
            reader.fail(item, "give either sha256 or key_env, not both")
        case (nil, nil):
            reader.fail(
                item, "an API key needs sha256 (the key's SHA-256 digest) or key_env (an environment variable holding the key)",
                hint: "never write a key in clear in this file")
        }
        return nil
    }
}
