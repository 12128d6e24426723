import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Personal data never reaches the logs, the metrics or the audit trail, wherever it comes from: referrals full
/// of recognisable details, valid and invalid; agencies whose every refusal quotes what they were
/// sent (FHIR, HTML, JSON, a redirect naming the patient, a busy page); refused keys with a name in
/// the path. Logged at debug, the most the gateway says.
@Suite(.serialized) struct PersonalDataEndToEndTests {
    /// Details no gateway text would contain by chance.
    static let personal = [
        "Quintessa", "Zephyrine-Oddbody", "9997654323", "999 765 4323", "77 Marigold Crescent", "07700 900461", "quintessa@example.org",
        "Oswin Vantablack", "fell on the Marigold stairs", "EXT-QZO-77",
    ]

    static func referral() throws -> [String: Any] {
        var object = try #require(try JSONSerialization.jsonObject(with: example("referral-falls")) as? [String: Any])
        var referrer = try #require(object["referrer"] as? [String: Any])
        referrer["name"] = "Dr Oswin Vantablack"
        referrer["email"] = "quintessa@example.org"
        object["referrer"] = referrer
        var subject = try #require(object["subject"] as? [String: Any])
        subject["givenName"] = "Quintessa"
        subject["familyName"] = "Zephyrine-Oddbody"
        subject["nhsNumber"] = "999 765 4323"
        subject["address"] = "77 Marigold Crescent, Headington"
        subject["phone"] = "07700 900461"
        object["subject"] = subject
        object["needs"] = ["falls-prevention", "adult-social-care", "mental-health-crisis", "safeguarding-adult", "befriending"]
        object["reason"] = "Quintessa fell on the Marigold stairs twice; lives alone."
        object["externalReference"] = "EXT-QZO-77"
        return object
    }

    static func json(_ object: [String: Any]) throws -> Data { try JSONSerialization.data(withJSONObject: object) }

    @Test func noPersonalDataReachesTheLogsOrTheAuditTrail() async throws {
        let deployment = try LocalDeployment(maxAttempts: 2)
        defer { deployment.stopAll() }
        // Every agency refuses, quoting what it was sent.
        let modes = [
            "oxfordshire-spa": "fhir-500", "oxford-falls": "html-422", "oxfordshire-mash": "redirect-302", "oxford-mh-crisis": "json-400",
            "oxfordshire-befriending": "text-503",
        ]
        let script = repositoryRoot.appendingPathComponent("Tests/Fixtures/agencies/echoing-agency.py").path
        var agencies: [RunningProcess] = []
        for (agency, mode) in modes {
            let process = try RunningProcess(
                [script, String(deployment.ports[agency]!), mode], environment: deployment.environment, name: agency, executable: "/usr/bin/python3")
            let deadline = ContinuousClock.now + .seconds(20)
            while !process.standardError.contains("listening"), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
            agencies.append(process)
        }
        defer { for agency in agencies { agency.kill(SIGKILL) } }
        try await deployment.startGateway(logLevel: "debug")

        // Valid referrals, delivered to agencies that refuse them in every way.
        var ids: [String] = []
        for _ in 0..<2 {
            let (status, answer) = try await deployment.submit(try Self.json(try Self.referral()))
            #expect(status == 202)
            if let id = answer["id"] as? String { ids.append(id) }
        }
        // Invalid ones, each with the details in it.
        var badNumber = try Self.referral()
        var subject = badNumber["subject"] as? [String: Any] ?? [:]
        subject["nhsNumber"] = "999 765 4324"
        badNumber["subject"] = subject
        var unknownMember = try Self.referral()
        unknownMember["Quintessa Zephyrine-Oddbody"] = "9997654323"
        var controlCharacter = try Self.referral()
        controlCharacter["reason"] = "Quintessa fell on the Marigold stairs\u{0}"
        for body in [try Self.json(badNumber), try Self.json(unknownMember), try Self.json(controlCharacter)] {
            #expect(try await deployment.submit(body).status == 422)
        }
        #expect(try await deployment.submit(Data(#"{"subject": {"givenName": "Quintessa", "nhsNumber": "9997654323""#.utf8)).status == 400)
        // Refused keys, and unknown paths, with the details in the path.
        let paths = ["/v1/referrals/Quintessa-Zephyrine-Oddbody-9997654323", "/v1/Quintessa/77-Marigold-Crescent"]
        for path in paths {
            for key in ["not-a-key-Quintessa-9997654323", deployment.adminKey] {
                let response = try await deployment.client.send(
                    .init(url: deployment.gatewayURL + path, method: "GET", headers: [("Authorization", "Bearer \(key)")], body: []))
                #expect([401, 404].contains(response.status))
            }
        }

        // Every delivery runs out of attempts (or is refused outright).
        for id in ids {
            // An agency failing with 5xx opens its circuit for a while: allow for one probe.
            _ = try await deployment.waitForReport(id, timeout: 90, "every delivery given up") { report in
                let deliveries = report["deliveries"] as? [[String: Any]] ?? []
                return deliveries.count == 5 && deliveries.allSatisfy { ($0["state"] as? String) == "dead-lettered" }
            }
        }
        // What the agencies said reached the administrators, whole: the test saw the data flow.
        let dead = try await deployment.admin("/v1/queue/dead?limit=100")
        let deadText = String(decoding: try JSONSerialization.data(withJSONObject: dead.body), as: UTF8.self)
        #expect(deadText.contains("Quintessa"), "administrators see what the agency answered")
        // The referrer's view names statuses and digests only.
        for id in ids {
            let report = try await deployment.report(id)
            let text = String(decoding: try JSONSerialization.data(withJSONObject: report), as: UTF8.self)
            for detail in Self.personal { #expect(!text.contains(detail), "the report quotes \(detail)") }
        }

        let scraped = try await deployment.client.send(
            .init(url: deployment.gatewayURL + "/metrics", method: "GET", headers: [("Authorization", "Bearer \(deployment.adminKey)")], body: []))
        let metrics = String(decoding: scraped.body, as: UTF8.self)
        #expect(scraped.status == 200 && metrics.contains("switchboard_delivery_attempts_total"))
        let gateway = try #require(deployment.gateway)
        gateway.kill(SIGTERM)
        _ = try await gateway.exitStatus()
        let logs = gateway.lines.joined(separator: "\n") + "\n" + gateway.standardError
        #expect(logs.contains("Delivery attempt"), "the log was written at debug: \(logs.prefix(500))")
        let exported = try await deployment.run(["audit", "export", "--config", deployment.configPath, "--format", "jsonl"])
        #expect(exported.status == 0)
        #expect(exported.output.contains("delivery.dead-lettered") && exported.output.contains("auth.rejected"))
        for detail in Self.personal {
            #expect(!logs.contains(detail), "the log holds \(detail)")
            #expect(!exported.output.contains(detail), "the audit trail holds \(detail)")
            #expect(!metrics.contains(detail), "/metrics holds \(detail)")
        }
    }
}
