import Foundation
import Yams
import _CryptoExtras

extension AgencyDirectory {
    /// `nhs_api_platform: {token_url, client_id, key_id, private_key_file}`. The token URL is https
    /// (plain http only to this machine, for a local stand-in); the key file must hold an RSA
    /// private key of at least 2048 bits in PEM, read now so a wrong path or key stops start-up here.
    static func nhsAPIPlatform(_ node: Node?, file: String, reader: ConfigReader) -> Agency.NHSAPIPlatform? {
        guard
            let entries = reader.mapping(
                node, "nhs_api_platform", allowed: ["token_url", "client_id", "key_id", "private_key_file"],
                required: ["token_url", "client_id", "key_id", "private_key_file"])
        else { return nil }
        guard let tokenURL = reader.string(entries["token_url"], "token_url"), let clientId = reader.string(entries["client_id"], "client_id"),
            let keyId = reader.string(entries["key_id"], "key_id"), let keyPath = reader.string(entries["private_key_file"], "private_key_file")
        else { return nil }
        var valid = true
        let host = URL(string: tokenURL)?.host
        let local = ["127.0.0.1", "localhost", "::1"].contains(host ?? "")
        if host == nil || !(tokenURL.hasPrefix("https://") || (tokenURL.hasPrefix("http://") && local)) {
            reader.fail(
                entries["token_url"], "token_url '\(tokenURL)' is not an https URL",
                hint: "the NHS API platform's, for example https://int.api.service.nhs.uk/oauth2/token")
            valid = false
        }
        if clientId.isEmpty || clientId.contains(where: \.isWhitespace) {
            reader.fail(entries["client_id"], "client_id must be the application's API key, without spaces")
            valid = false
        }
        if keyId.isEmpty || keyId.contains(where: \.isWhitespace) {
            reader.fail(entries["key_id"], "key_id must be the kid of the public key registered for the application, without spaces")
            valid = false
        }
        let folder = URL(fileURLWithPath: file).deletingLastPathComponent()
        let resolved = keyPath.hasPrefix("/") ? keyPath : folder.appendingPathComponent(keyPath).path
        guard AgencyEndpoints.isInside(resolved, folder: folder.path) else {
            reader.fail(
                entries["private_key_file"], "private_key_file '\(keyPath)' is outside the configuration folder",
                hint: "keep it beside agencies.yaml (for example keys/nhs-api.pem), or link it there")
            return nil
        }
        guard let pem = try? String(contentsOfFile: resolved, encoding: .utf8) else {
            reader.fail(
                entries["private_key_file"], "private_key_file '\(keyPath)' cannot be read", hint: "paths are relative to the folder of agencies.yaml"
            )
            return nil
        }
        guard let key = try? _RSA.Signing.PrivateKey(pemRepresentation: pem), key.keySizeInBits >= 2048 else {
            reader.fail(
                entries["private_key_file"], "private_key_file '\(keyPath)' does not hold an RSA private key of 2048 bits or more in PEM",
                hint: "make one with: openssl genrsa -out key.pem 4096")
            return nil
        }
        guard valid else { return nil }
        return Agency.NHSAPIPlatform(tokenURL: tokenURL, clientId: clientId, keyId: keyId, privateKeyFile: resolved)
    }
}
