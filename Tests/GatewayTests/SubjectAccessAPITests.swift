import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import ReferralModel
import Storage
import Testing
import UseCases

/// Roles by need to know: governance answers a subject access request, operations keeps deliveries
/// moving, and neither may do the other's work or an administrator's.
@Suite struct SubjectAccessAPITests {
    /// The falls example about someone else: another NHS number, family name and birth date.
    static func referral(nhsNumber: String, familyName: String, birthDate: String = "1941-03-14") throws -> ByteBuffer {
        let text = String(decoding: try exampleReferral(), as: UTF8.self).replacingOccurrences(of: "999 000 0018", with: nhsNumber)
            .replacingOccurrences(of: "Testperson", with: familyName).replacingOccurrences(of: "1941-03-14", with: birthDate)
        return ByteBuffer(string: text)
    }

    func submit(_ client: any TestClientProtocol, _ body: ByteBuffer) async throws -> ReferralID {
        try await client.execute(uri: "/v1/referrals", method: .post, headers: headers(key: GatewayFixture.referrerKey), body: body) {
            #expect($0.status == .accepted)
            return try JSONDecoder().decode(SubmissionReceipt.self, from: Data(buffer: $0.body)).id
        }
    }

    func get(_ client: any TestClientProtocol, _ uri: String, key: String) async throws -> (status: Int, body: Data) {
        try await client.execute(uri: uri, method: .get, headers: headers(key: key, json: false)) { (Int($0.status.code), Data(buffer: $0.body)) }
    }

    @Test func governanceFindsExactlyThatPersonsReferralsWithEverythingHeldAndEachSearchIsAudited() async throws {
        let fixture = try GatewayFixture()
        try await fixture.components.start()
        let store = fixture.components.store
        try await fixture.test { client in
            let first = try await submit(client, try Self.referral(nhsNumber: "999 000 0034", familyName: "O'Brien-Smith"))
            let someoneElse = try await submit(
                client, try Self.referral(nhsNumber: "999 000 0026", familyName: "O'Brien-Smith", birthDate: "1950-01-01"))
            let second = try await submit(client, try Self.referral(nhsNumber: "9990000034", familyName: "obrien smith"))

            let byNumber = try await get(client, "/v1/records?nhsNumber=999%20000%200034&reason=SAR-2026-114", key: GatewayFixture.governanceKey)
            #expect(byNumber.status == 200)
            let disclosure = try JSONDecoder().decode(SubjectAccess.Disclosure.self, from: byNumber.body)
            #expect(disclosure.referrals.map(\.id) == [first, second])
            #expect(disclosure.searchedBy == "test-governance" && disclosure.search == "nhsNumber" && disclosure.reason == "SAR-2026-114")
            #expect(disclosure.referrals.first?.referral?.subject.familyName == "O'Brien-Smith")
            #expect(disclosure.referrals.allSatisfy { !$0.report.deliveries.isEmpty && !$0.report.history.isEmpty })

            let byName = try await get(
                client, "/v1/records?familyName=OBRIEN-SMITH&birthDate=1941-03-14&reason=SAR-2026-114", key: GatewayFixture.governanceKey)
            #expect(try JSONDecoder().decode(SubjectAccess.Disclosure.self, from: byName.body).referrals.map(\.id) == [first, second])
            #expect(!byName.body.isEmpty && someoneElse != first)

            // No reason, or a search that is not one, is refused with the parameter named.
            let noReason = try await get(client, "/v1/records?nhsNumber=9990000034", key: GatewayFixture.governanceKey)
            #expect(noReason.status == 422)
            #expect(try JSONDecoder().decode(ProblemBody.self, from: noReason.body).errors?.map(\.pointer) == ["/reason"])
            let half = try await get(client, "/v1/records?familyName=Smith&reason=SAR-1", key: GatewayFixture.governanceKey)
            #expect(try JSONDecoder().decode(ProblemBody.self, from: half.body).errors?.map(\.pointer) == ["/birthDate"])
            // Other roles may not search.
            for key in [GatewayFixture.adminKey, GatewayFixture.operationsKey, GatewayFixture.referrerKey] {
                #expect(try await get(client, "/v1/records?nhsNumber=9990000034&reason=SAR-1", key: key).status == 403)
            }
        }
        let events = try await store.auditEvents(afterSequence: 0, limit: 1_000)
        let searches = events.filter { $0.kind == "records.searched" }
        #expect(searches.count == 2)
        #expect(
            searches.allSatisfy { $0.actor == "test-governance" && $0.detail.contains("SAR-2026-114") && $0.detail.contains("2 referrals found") })
        #expect(!events.contains { $0.detail.contains("9990000034") || $0.detail.contains("999 000 0034") || $0.detail.contains("Brien") })
        #expect(events.filter { $0.kind == "referral.viewed" && $0.detail.contains("subject access") }.count == 4)
    }

    @Test func operationsRunsTheQueuesWithoutReadingAReferralAndGovernanceChangesNothing() async throws {
        let fixture = try GatewayFixture()
        try await fixture.components.start()
        let store = fixture.components.store
        let rules = try String(contentsOfFile: fixture.rulesPath, encoding: .utf8)
        try await fixture.test { client in
            let id = try await submit(client, try Self.referral(nhsNumber: "9990000034", familyName: "Quenby"))
            // One delivery given up on, with the agency's reply quoting the person.
            let lease = try #require(
                try await store.leaseDueDeliveries(
                    now: Date().addingTimeInterval(1), lanes: [LaneDemand(agency: "oxford-falls", limit: 1, leaseDuration: 30)]
                )
                .first)
            _ = try await store.finish([
                DeliveryCompletion(lease: lease, result: .deadLetter(error: "HTTP 400"), audit: [], at: Date(), agencyReply: "unknown patient Quenby")
            ])
            let forOperations = try await get(client, "/v1/queue/dead", key: GatewayFixture.operationsKey)
            #expect(forOperations.status == 200)
            #expect(try JSONDecoder().decode(DeadLetterList.self, from: forOperations.body).deadLetters.map(\.agencyReply) == [nil])
            #expect(try await store.auditEvents(afterSequence: 0, limit: 1_000).filter { $0.kind == "dead-letters.read" }.isEmpty)
            let forAdmin = try await get(client, "/v1/queue/dead", key: GatewayFixture.adminKey)
            #expect(try JSONDecoder().decode(DeadLetterList.self, from: forAdmin.body).deadLetters.map(\.agencyReply) == ["unknown patient Quenby"])
            #expect(try await store.auditEvents(afterSequence: 0, limit: 1_000).filter { $0.kind == "dead-letters.read" }.count == 1)

            #expect(try await get(client, "/v1/queue", key: GatewayFixture.operationsKey).status == 200)
            #expect(try await get(client, "/metrics", key: GatewayFixture.operationsKey).status == 200)
            let paused = try await client.execute(
                uri: "/v1/agencies/oxford-falls/pause", method: .post, headers: headers(key: GatewayFixture.operationsKey),
                body: ByteBuffer(string: #"{"reason": "planned outage"}"#)
            ) { $0.status }
            #expect(paused == .ok)
            // Operations reads no referral and changes no rules; governance runs no queue and changes no rules.
            #expect(try await get(client, "/v1/referrals/\(id)", key: GatewayFixture.operationsKey).status == 403)
            #expect(try await get(client, "/v1/rules", key: GatewayFixture.operationsKey).status == 403)
            #expect(try await get(client, "/v1/queue", key: GatewayFixture.governanceKey).status == 403)
            for key in [GatewayFixture.operationsKey, GatewayFixture.governanceKey] {
                let changed = try await client.execute(
                    uri: "/v1/rules", method: .put, headers: yamlHeaders(ifMatch: "*", key: key),
                    body: ByteBuffer(string: rules)
                ) { $0.status }
                #expect(changed == .forbidden)
                #expect(try await get(client, "/v1/keys", key: key).status == 403)
            }
        }
    }

    func erase(_ client: any TestClientProtocol, _ id: ReferralID, key: String, reason: String = "ERASE-2026-3") async throws -> (
        status: Int, answer: [String: Any]
    ) {
        try await client.execute(
            uri: "/v1/records/\(id)/erase", method: .post, headers: headers(key: key), body: ByteBuffer(string: #"{"reason": "\#(reason)"}"#)
        ) { (Int($0.status.code), (try? JSONSerialization.jsonObject(with: Data(buffer: $0.body))) as? [String: Any] ?? [:]) }
    }

    @Test func erasureDestroysThePersonalDataKeepsTheTrailAndSafeguardingNeedsASecondPerson() async throws {
        let fixture = try GatewayFixture()
        try await fixture.components.start()
        let store = fixture.components.store
        try await fixture.test { client in
            let falls = try await submit(client, ByteBuffer(data: try exampleReferral()))
            let erased = try await erase(client, falls, key: GatewayFixture.governanceKey)
            #expect(erased.status == 200 && erased.answer["state"] as? String == "erased")
            #expect((erased.answer["withdrawn"] as? [String])?.count == 2, "both deliveries were still to be made")
            #expect(try await store.loopReferral(falls) == nil)
            let report = try #require(try await store.report(referralId: falls))
            #expect(report.deliveries.map(\.state) == [.withdrawn, .withdrawn] && report.history.last?.event == "referral.erased")
            let found = try await get(client, "/v1/records?nhsNumber=9990000018&reason=SAR-1", key: GatewayFixture.governanceKey)
            #expect(try JSONDecoder().decode(SubjectAccess.Disclosure.self, from: found.body).referrals.isEmpty)
            #expect(try await erase(client, falls, key: GatewayFixture.governanceKey).status == 404, "nothing is left to erase")

            // A safeguarding concern still open with the MASH: one person asks, another approves.
            let concern = try await submit(client, ByteBuffer(data: try exampleReferral("referral-safeguarding")))
            let asked = try await erase(client, concern, key: GatewayFixture.governanceKey)
            #expect(asked.status == 202 && asked.answer["state"] as? String == "awaiting-approval")
            #expect((asked.answer["safeguarding"] as? [String])?.isEmpty == false)
            #expect(try await store.loopReferral(concern) != nil, "nothing is erased yet")
            let again = try await erase(client, concern, key: GatewayFixture.governanceKey)
            #expect(again.status == 202 && again.answer["requestedBy"] as? String == "test-governance", "the one who asked cannot approve")
            let approved = try await erase(client, concern, key: GatewayFixture.secondGovernanceKey, reason: "ERASE-2026-4")
            #expect(approved.status == 200 && approved.answer["requestedBy"] as? String == "test-governance")
            #expect(approved.answer["approvedBy"] as? String == "second-governance")
            #expect(try await store.loopReferral(concern) == nil)
            #expect(try await erase(client, falls, key: GatewayFixture.adminKey).status == 403)
        }
        let events = try await store.auditEvents(afterSequence: 0, limit: 1_000)
        #expect(events.filter { $0.kind == "erasure.requested" }.count == 1)
        #expect(events.filter { $0.kind == "referral.erased" }.map(\.actor) == ["test-governance", "second-governance"])
        guard case .intact = try await store.verifyAudit() else {
            Issue.record("erasure broke the audit chain")
            return
        }
    }

    @Test func rectificationCorrectsThePersonsDetailsTellsTheAgenciesAndIsFoundByTheNewOnes() async throws {
        let fixture = try GatewayFixture()
        try await fixture.components.start()
        let store = fixture.components.store
        try await fixture.test { client in
            let id = try await submit(client, try Self.referral(nhsNumber: "9990000034", familyName: "Smtih"))
            // Delivered to the falls service: it is sent the correction.
            let lease = try #require(
                try await store.leaseDueDeliveries(
                    now: Date().addingTimeInterval(1), lanes: [LaneDemand(agency: "oxford-falls", limit: 1, leaseDuration: 30)]
                ).first)
            _ = try await store.finish([DeliveryCompletion(lease: lease, result: .delivered(agencyReference: nil), audit: [], at: Date())])
            func rectify(_ body: String, key: String = GatewayFixture.governanceKey) async throws -> (status: Int, body: Data) {
                try await client.execute(uri: "/v1/records/\(id)/rectify", method: .post, headers: headers(key: key), body: ByteBuffer(string: body))
                {
                    (Int($0.status.code), Data(buffer: $0.body))
                }
            }
            let corrected = try await rectify(#"{"reason": "RECT-2026-2", "subject": {"familyName": "Smith"}}"#)
            #expect(corrected.status == 200)
            let amended = try JSONDecoder().decode(ReferralLoop.Amended.self, from: corrected.body)
            #expect(amended.fields == ["/subject/familyName"] && amended.updating == ["oxford-falls"])
            #expect(try await store.loopReferral(id)?.referral.subject.familyName == "Smith")
            #expect(try await store.referralIds(about: .person(familyName: "Smith", birthDate: "1941-03-14")) == [id])
            #expect(try await store.referralIds(about: .person(familyName: "Smtih", birthDate: "1941-03-14")).isEmpty)
            // Only the person's details, with a reason, by governance.
            let beyond = try await rectify(#"{"reason": "RECT-2026-2", "subject": {"phone": "01865 000111"}, "reason2": 1}"#)
            #expect(beyond.status == 422)
            let notSubject = try await rectify(#"{"reason": "RECT-2026-2", "subject": {"familyName": "Smith", "nhsNumber": "123"}}"#)
            #expect(notSubject.status == 422)
            #expect(try await rectify(#"{"subject": {"familyName": "Smyth"}}"#).status == 422)
            #expect(try await rectify(#"{"reason": "x", "subject": {"familyName": "Smyth"}}"#, key: GatewayFixture.referrerKey).status == 403)
        }
        let rectified = try await store.auditEvents(referralId: try #require(try await store.referralIds(about: .nhsNumber("9990000034")).first))
            .filter { $0.kind == "referral.amended" }
        #expect(rectified.map(\.detail) == ["rectified ('RECT-2026-2'): /subject/familyName; the update goes to oxford-falls"])
        #expect(rectified.first?.actor == "test-governance")
    }
}
