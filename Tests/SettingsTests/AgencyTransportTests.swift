import Foundation
import Settings
import Testing
import _CryptoExtras

/// agencies.yaml's delivery settings: lanes, circuit breakers, authentication and TLS.
@Suite struct AgencyTransportTests {
    func parse(_ agencies: String, file: String = "agencies.yaml") throws(ConfigError) -> AgencyDirectory {
        try AgencyDirectory.parse("agencies:\n" + agencies, file: file, adapters: ["json-webhook"])
    }

    func problems(_ agencies: String, file: String = "agencies.yaml") -> [String] {
        do {
            _ = try parse(agencies, file: file)
            return []
        } catch {
            return error.issues.map { "\($0.line): \($0.message)" }
        }
    }

    @Test func laneAndBreakerSettingsHaveDefaultsAndCanBeSet() throws {
        let directory = try parse(
            """
              - { id: a, name: A, adapter: json-webhook, endpoint: "http://127.0.0.1:1/" }
              - id: b
                name: B
                adapter: json-webhook
                endpoint: http://127.0.0.1:1/
                concurrency: 2
                circuit_breaker: { failures: 3, cool_down_seconds: 10, max_cool_down_seconds: 60, disable_after_days: 1 }
            """)
        #expect(directory["a"]?.concurrency == 8)
        #expect(directory["a"]?.circuitBreaker == Agency.CircuitBreaker())
        #expect(directory["b"]?.concurrency == 2)
        #expect(directory["b"]?.circuitBreaker == Agency.CircuitBreaker(failures: 3, coolDown: 10, maximumCoolDown: 60, disableAfterDays: 1))
    }

    @Test func eachWayOfAuthenticatingReadsItsSecretFromTheEnvironment() throws {
        let directory = try parse(
            """
              - { id: a, name: A, adapter: json-webhook, endpoint: "http://127.0.0.1:1/", auth: { bearer_env: A_TOKEN } }
              - { id: b, name: B, adapter: json-webhook, endpoint: "http://127.0.0.1:1/", auth: { basic_user: gw, password_env: B_PASSWORD } }
              - { id: c, name: C, adapter: json-webhook, endpoint: "http://127.0.0.1:1/", auth: { header: X-Api-Key, value_env: C_KEY } }
            """)
        #expect(directory["a"]?.authorization == .bearer(tokenEnv: "A_TOKEN"))
        #expect(directory["a"]?.authorization?.header(secret: "t0k")?.value == "Bearer t0k")
        #expect(directory["b"]?.authorization?.header(secret: "pw")?.value == "Basic " + Data("gw:pw".utf8).base64EncodedString())
        #expect(directory["c"]?.authorization?.header(secret: "k")?.name == "X-Api-Key")
    }

    @Test func theNHSAPIPlatformsKeyFileIsCheckedWhenTheFileLoads() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-nhs-key-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try _RSA.Signing.PrivateKey(keySize: .bits2048).pemRepresentation.write(
            to: folder.appendingPathComponent("key.pem"), atomically: true, encoding: .utf8)
        try "not a key".write(to: folder.appendingPathComponent("junk.pem"), atomically: true, encoding: .utf8)
        let file = folder.appendingPathComponent("agencies.yaml").path
        let directory = try parse(
            """
              - id: a
                name: A
                adapter: json-webhook
                endpoint: https://agency.example.nhs.uk/
                auth: { nhs_api_platform: { token_url: "https://int.api.service.nhs.uk/oauth2/token", client_id: app, key_id: k1, private_key_file: key.pem } }
            """, file: file)
        #expect(
            directory["a"]?.authorization
                == .nhsAPIPlatform(
                    .init(
                        tokenURL: "https://int.api.service.nhs.uk/oauth2/token", clientId: "app", keyId: "k1",
                        privateKeyFile: folder.appendingPathComponent("key.pem").path)))
        let lines = problems(
            """
              - id: a
                name: A
                adapter: json-webhook
                endpoint: https://agency.example.nhs.uk/
                auth: { nhs_api_platform: { token_url: "http://api.example.org/token", client_id: app, key_id: k1, private_key_file: junk.pem } }
              - id: b
                name: B
                adapter: json-webhook
                endpoint: https://agency.example.nhs.uk/
                auth: { nhs_api_platform: { token_url: "https://api.service.nhs.uk/oauth2/token", client_id: app, key_id: k1, private_key_file: gone.pem } }
            """, file: file)
        #expect(
            lines == [
                "6: token_url 'http://api.example.org/token' is not an https URL",
                "6: private_key_file 'junk.pem' does not hold an RSA private key of 2048 bits or more in PEM",
                "11: private_key_file 'gone.pem' cannot be read",
            ])
    }

    @Test func badAuthenticationIsRefusedWithItsLine() {
        let lines = problems(
            """
              - { id: a, name: A, adapter: json-webhook, endpoint: "http://127.0.0.1:1/", auth: { bearer_env: the-token-itself } }
              - { id: b, name: B, adapter: json-webhook, endpoint: "http://127.0.0.1:1/", auth: { bearer_env: X, header: Y, value_env: Z } }
              - { id: c, name: C, adapter: json-webhook, endpoint: "http://127.0.0.1:1/", auth: { header: webhook-signature, value_env: Z } }
            """)
        #expect(lines.contains { $0.hasPrefix("2: bearer_env must name an environment variable") }, "\(lines)")
        #expect(lines.contains("3: auth must be one way of authenticating"), "\(lines)")
        #expect(lines.contains("4: 'webhook-signature' cannot be an authentication header"), "\(lines)")
    }

    @Test func tlsFilesAreResolvedNextToTheFileAndCheckedNow() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("certs"), withIntermediateDirectories: true)
        for name in ["ca.pem", "client.pem", "client.key"] {
            try "PEM".write(to: folder.appendingPathComponent("certs/\(name)"), atomically: true, encoding: .utf8)
        }
        let file = folder.appendingPathComponent("agencies.yaml").path
        let directory = try parse(
            """
              - id: a
                name: A
                adapter: json-webhook
                endpoint: https://agency.example/in
                tls: { ca_file: certs/ca.pem, client_certificate: certs/client.pem, client_key: certs/client.key }
            """, file: file)
        #expect(directory["a"]?.tls?.caFile == folder.appendingPathComponent("certs/ca.pem").path)
        #expect(directory["a"]?.tls?.clientKey == folder.appendingPathComponent("certs/client.key").path)
        let lines = problems(
            """
              - { id: a, name: A, adapter: json-webhook, endpoint: "http://agency.example/", tls: { ca_file: certs/ca.pem } }
              - { id: b, name: B, adapter: json-webhook, endpoint: "https://agency.example/", tls: { ca_file: certs/missing.pem } }
              - { id: c, name: C, adapter: json-webhook, endpoint: "https://agency.example/", tls: { client_certificate: certs/client.pem } }
            """, file: file)
        #expect(lines.contains("2: tls applies only to an https endpoint"), "\(lines)")
        #expect(lines.contains("3: ca_file 'certs/missing.pem' cannot be read"), "\(lines)")
        #expect(lines.contains("4: client_certificate and client_key go together"), "\(lines)")
    }
}
