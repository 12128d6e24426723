import Deployment
import Foundation
import Gateway
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import ReferralModel
import Testing
import Yams

/// `openapi.yaml` parsed, as integrators read it.
func openAPI() throws -> [String: Any] {
    let text = try String(contentsOf: repositoryRoot.appendingPathComponent("openapi.yaml"), encoding: .utf8)
    return try #require(try Yams.load(yaml: text) as? [String: Any])
}

func documentedOperations() throws -> [String: [String: Any]] {
    let paths = try #require(try openAPI()["paths"] as? [String: [String: Any]])
    var operations: [String: [String: Any]] = [:]
    for (path, item) in paths {
        for (method, operation) in item {
            operations["\(method.uppercased()) \(path)"] = operation as? [String: Any]
        }
    }
    return operations
}

func canonicalJSON(_ value: Any) throws -> String {
    String(decoding: try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]), as: UTF8.self)
}

@Suite struct ContractTests {
    @Test func theRouterServesExactlyTheDocumentedPathsAndMethods() throws {
        let fixture = try GatewayFixture()
        let served = Set(fixture.application.routes.map(\.description))
        let documented = Set(try documentedOperations().keys)
        #expect(served == documented)
    }

    @Test func theGatewayServesThisDocument() async throws {
        let fixture = try GatewayFixture()
        let file = try Data(contentsOf: repositoryRoot.appendingPathComponent("openapi.yaml"))
        try await fixture.test { client in
            try await client.execute(uri: "/openapi.yaml", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/yaml")
                #expect(Data(buffer: response.body) == file)
            }
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == #"{"status":"ok"}"#)
            }
        }
    }

    @Test func thePublishedReferralSchemaIsTheContractsSchema() throws {
        let file = try Data(contentsOf: repositoryRoot.appendingPathComponent("config/schema/referral.v1.json"))
        var published = try #require(try JSONSerialization.jsonObject(with: file) as? [String: Any])
        #expect(published["$schema"] as? String == "https://json-schema.org/draft/2020-12/schema")
        published.removeValue(forKey: "$schema")
        published.removeValue(forKey: "$id")
        let components = try #require(try openAPI()["components"] as? [String: Any])
        let schemas = try #require(components["schemas"] as? [String: Any])
        let contract = try #require(schemas["Referral"])
        #expect(try canonicalJSON(published) == canonicalJSON(contract))
    }

    @Test func theSchemaStatesTheDecodersLimitsAndVocabulary() throws {
        let file = try Data(contentsOf: repositoryRoot.appendingPathComponent("config/schema/referral.v1.json"))
        let schema = try #require(try JSONSerialization.jsonObject(with: file) as? [String: Any])
        let properties = try #require(schema["properties"] as? [String: [String: Any]])
        let subject = try #require(properties["subject"]?["properties"] as? [String: [String: Any]])
        let referrer = try #require(properties["referrer"]?["properties"] as? [String: [String: Any]])
        #expect(properties["reason"]?["maxLength"] as? Int == ReferralLimits.reasonLength)
        #expect(properties["externalReference"]?["maxLength"] as? Int == ReferralLimits.externalReferenceLength)
        #expect(properties["needs"]?["maxItems"] as? Int == ReferralLimits.maximumNeeds)
        #expect(subject["givenName"]?["maxLength"] as? Int == ReferralLimits.nameLength)
        #expect(subject["address"]?["maxLength"] as? Int == ReferralLimits.addressLength)
        #expect(subject["preferredLanguage"]?["maxLength"] as? Int == ReferralLimits.languageLength)
        #expect(referrer["email"]?["maxLength"] as? Int == ReferralLimits.emailLength)
        #expect(referrer["phone"]?["maxLength"] as? Int == ReferralLimits.phoneLength)
        let items = try #require(properties["needs"]?["items"] as? [String: Any])
        #expect(items["enum"] as? [String] == NeedsVocabulary.standard.codes)
        let urgency = try #require(properties["urgency"]?["enum"] as? [String])
        #expect(urgency == Urgency.allCases.map(\.rawValue))
        let consent = try #require(properties["consent"]?["properties"] as? [String: [String: Any]])
        #expect(consent["status"]?["enum"] as? [String] == ConsentStatus.allCases.map(\.rawValue))
    }

    @Test func theExampleConfigurationUsesThePublishedVocabulary() throws {
        let text = try String(contentsOf: repositoryRoot.appendingPathComponent("config/switchboard.yaml"), encoding: .utf8)
        let config = try #require(try Yams.load(yaml: text) as? [String: Any])
        let needs = try #require(config["needs"] as? [Any])
        // Each entry is a code, or a mapping with its code (and its SNOMED CT concept).
        let codes = needs.compactMap { ($0 as? String) ?? (($0 as? [String: Any])?["code"] as? String) }
        #expect(codes == NeedsVocabulary.standard.codes)
    }

    @Test func everyExampleReferralIsValid() throws {
        let directory = repositoryRoot.appendingPathComponent("config/examples")
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".json") }
        #expect(names.count >= 4)
        for name in names {
            let data = try Data(contentsOf: directory.appendingPathComponent(name))
            #expect(throws: Never.self, "\(name)") { try ReferralDecoder().decode(Array(data)) }
        }
    }

    @Test func everyProblemTypeIsDocumented() throws {
        let info = try #require(try openAPI()["info"] as? [String: Any])
        let description = try #require(info["description"] as? String)
        for kind in ProblemType.allCases {
            #expect(description.contains("`\(kind.uri)` | \(kind.status) |"), "\(kind.uri)")
        }
    }
}

@Suite struct ConfigurationSchemaTests {
    @Test func theAgenciesSchemaListsExactlyTheAdaptersThisBuildHas() throws {
        let file = try Data(contentsOf: repositoryRoot.appendingPathComponent("config/schema/agencies.schema.json"))
        let schema = try #require(try JSONSerialization.jsonObject(with: file) as? [String: Any])
        let agencies = try #require((schema["properties"] as? [String: Any])?["agencies"] as? [String: Any])
        let item = try #require(agencies["items"] as? [String: Any])
        let adapter = try #require((item["properties"] as? [String: Any])?["adapter"] as? [String: Any])
        #expect(Set(adapter["enum"] as? [String] ?? []) == DeploymentConfiguration.adapterNames)
    }
}

/// One response `openapi.yaml` promises: an operation, the status, and the roles that may call it.
struct DocumentedResponse: Sendable, CustomTestStringConvertible {
    var method: HTTPRequest.Method
    var path: String
    var status: Int
    var roles: [String]

    var testDescription: String { "\(method.rawValue) \(path) \(status)" }
}

/// Every response of every operation, read from the published document itself.
func documentedResponses() throws -> [DocumentedResponse] {
    try documentedOperations().flatMap { operation, body -> [DocumentedResponse] in
        let parts = operation.split(separator: " ", maxSplits: 1).map(String.init)
        let roles = body["x-roles"] as? [String] ?? []
        return (body["responses"] as? [String: Any] ?? [:]).keys.compactMap { status in
            Int(status).map { DocumentedResponse(method: HTTPRequest.Method(parts[0])!, path: parts[1], status: $0, roles: roles) }
        }
    }.sorted { $0.testDescription < $1.testDescription }
}
