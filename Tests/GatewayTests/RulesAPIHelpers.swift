import APIDocuments
import Deployment
import Foundation
import Gateway
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import ReferralModel
import Storage
import Testing
import UseCases

/// The example rules with falls referrals also sent to the safeguarding hub, and one rule added.
func changedRules(_ live: String) -> String {
    live.replacingOccurrences(of: "    route_to: oxford-falls\n", with: "    route_to: [oxford-falls, oxfordshire-mash]\n")
        .replacingOccurrences(
            of: "fallback: oxfordshire-spa",
            with: """
                  - id: district-nursing-oxford
                    when:
                      needs: district-nursing
                      postcode: [OX1, OX2, OX3, OX4]
                    route_to: oxford-falls

                fallback: oxfordshire-spa
                """)
}

func yamlHeaders(ifMatch: String?, key: String = GatewayFixture.adminKey) -> HTTPFields {
    var fields = headers(key: key, json: false)
    fields[.contentType] = "application/yaml"
    if let ifMatch { fields[.ifMatch] = ifMatch }
    return fields
}

struct RuleProblemBody: Decodable {
    struct Issue: Decodable {
        var pointer: String
        var detail: String
        var line: Int?
        var column: Int?
        var hint: String?
    }

    var type: String
    var status: Int
    var errors: [Issue]?
}

/// Reads the live rules as an administrator would.
func liveRules(_ client: any TestClientProtocol) async throws -> LiveRulesDocument {
    try await client.execute(uri: "/v1/rules", method: .get, headers: headers(key: GatewayFixture.adminKey)) {
        try JSONDecoder().decode(LiveRulesDocument.self, from: Data(buffer: $0.body))
    }
}

/// The fixture's agencies with the befriending charity renamed: a valid change that routes nothing differently.
func changedAgencies(_ fixture: GatewayFixture) throws -> String {
    let live = try String(contentsOfFile: fixture.agenciesPath, encoding: .utf8)
    let changed = live.replacingOccurrences(
        of: "name: Oxfordshire befriending and carers' support (voluntary sector)", with: "name: Oxfordshire Befriending and Carers' Hub")
    precondition(changed != live, "the example agencies changed: update changedAgencies")
    return changed
}
