import BaRS
import Foundation
import ReferralModel
import Testing

/// The BaRS specification's example messages (Tests/Fixtures/bars) read as referrals and answers.
@Suite struct ReferralMappingTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/bars")

    static func bytes(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: fixtures.appendingPathComponent("\(name).json")))
    }

    static let concepts = FHIRConceptMap(
        needs: [.init(system: "http://fhir.nhs.uk/Id/dos-service-id", code: "111111111", need: "mental-health-crisis")],
        urgency: [.init(system: "https://fhir.nhs.uk/CodeSystem/arp-priority-code", code: "C3", urgency: .urgent)])

    static func member(_ value: JSONValue, _ pointer: String) -> JSONValue? {
        var current: JSONValue? = value
        for key in pointer.split(separator: "/") {
            guard case .object(let object)? = current else { return nil }
            current = object[String(key)]
        }
        return current
    }

    @Test func theExampleRequestMapsEveryFieldFromWhereTheSpecificationPutsIt() throws {
        let message = try InboundMessage.parse(try Self.bytes("servicerequest-request"))
        #expect(message.event == .serviceRequestRequest && message.reason == .new)
        let mapping = try ReferralMapping.map(message, concepts: Self.concepts, vocabulary: .standard, now: Date())
        let document = mapping.document
        #expect(Self.member(document, "subject/nhsNumber") == .string("3478526985"))
        #expect(Self.member(document, "subject/givenName") == .string("Julie"))
        #expect(Self.member(document, "subject/postcode") == .string("LS10 4YU"))
        #expect(Self.member(document, "subject/registeredPractice") == .string("G82080"))
        #expect(Self.member(document, "referrer/organisation") == .string("RND"))
        #expect(Self.member(document, "referrer/name") == .string("Marcy BLAKE"))
        // The requesting practitioner's work number, before the sending service's switchboard.
        #expect(Self.member(document, "referrer/phone") == .string("0205568263"))
        #expect(Self.member(document, "needs") == .array([.string("mental-health-crisis")]))
        #expect(Self.member(document, "urgency") == .string("urgent"))
        #expect(Self.member(document, "consent/status") == .string("given"))
        // The 2021 occurrence window has passed: no respondBy, the urgency's own allowance applies.
        #expect(Self.member(document, "respondBy") == nil)
        #expect(mapping.expression(for: "/subject/nhsNumber", fallback: "-") == "Bundle.entry[5].resource.identifier[0].value")
        #expect(mapping.expression(for: "/subject/birthDate", fallback: "-") == "Bundle.entry[5].resource.birthDate")
        #expect(mapping.expression(for: "/urgency", fallback: "-") == "Bundle.entry[4].resource.activity[0].outcomeCodeableConcept[3].coding[0]")
        // Codes only, never the person, in what the audit trail is told.
        #expect(!mapping.summary.contains("Jones") && !mapping.summary.contains("3478526985"))
    }

    @Test func aFutureOccurrenceIsTheRespondByAndTheMostUrgentCodeWins() throws {
        var text = String(decoding: try Self.bytes("servicerequest-request"), as: UTF8.self)
        text = text.replacingOccurrences(of: "\"end\": \"2021-11-26T15:20:00+00:00\"", with: "\"end\": \"2099-01-01T12:00:00+00:00\"")
        text = text.replacingOccurrences(of: "\"intent\": \"plan\",", with: "\"intent\": \"plan\", \"priority\": \"asap\",")
        let message = try InboundMessage.parse(Array(text.utf8))
        let mapping = try ReferralMapping.map(message, concepts: Self.concepts, vocabulary: .standard, now: Date())
        #expect(Self.member(mapping.document, "respondBy") == .string("2099-01-01T12:00:00+00:00"))
        #expect(Self.member(mapping.document, "urgency") == .string("emergency"))
    }

    @Test func structuralProblemsAreFoundBeforeAnyMapping() {
        func issues(_ text: String) -> [String] {
            do {
                _ = try InboundMessage.parse(Array(text.utf8))
                return []
            } catch {
                return error.issues.map { "\($0.error.rawValue) \($0.expression ?? "-")" }
            }
        }
        #expect(issues("[]") == ["REC_BAD_REQUEST Bundle.resourceType"])
        #expect(issues(#"{"resourceType": "Patient"}"#) == ["REC_BAD_REQUEST Bundle.resourceType"])
        #expect(issues(#"{"resourceType": "Bundle", "type": "collection"}"#) == ["REC_BAD_REQUEST Bundle.type"])
        #expect(issues(#"{"resourceType": "Bundle", "type": "message", "entry": []}"#) == ["REC_BAD_REQUEST Bundle.entry[0].resource"])
        let header = #"{"resourceType": "Bundle", "type": "message", "entry": [{"resource": {"resourceType": "MessageHeader"}}]}"#
        #expect(issues(header) == ["REC_BAD_REQUEST Bundle.entry[0].resource.eventCoding"])
    }

    @Test func anAgencysResponseReadsAsAnAnswer() throws {
        var bundle = try JSONSerialization.jsonObject(with: Data(try Self.bytes("servicerequest-response"))) as! [String: Any]
        let id = Identifier.make()
        var entries = bundle["entry"] as! [[String: Any]]
        var request = entries[1]["resource"] as! [String: Any]
        request["identifier"] = [["system": "urn:switchboard:referral", "value": id]]
        entries[1]["resource"] = request
        // The receiver's Encounter, the message's focus: cancelled, for a Directory of Services reason.
        var encounter = entries[4]["resource"] as! [String: Any]
        encounter["status"] = "cancelled"
        encounter["reasonCode"] = [["coding": [["system": "https://fhir.nhs.uk/CodeSystem/dos-rejected-reasons-bars", "code": "42"]]]]
        entries[4]["resource"] = encounter
        bundle["entry"] = entries
        let bytes = Array(try JSONSerialization.data(withJSONObject: bundle))
        let answer = try AgencyAnswer.read(try InboundMessage.parse(bytes))
        #expect(answer.referralId == id)
        #expect(answer.answer == "declined" && answer.declineReason == .outOfArea)
    }

    @Test func anOperationOutcomeIsReadByItsCodesAlone() {
        let body = Array(
            #"{"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "invalid", "details": {"coding": [{"system": "https://fhir.nhs.uk/CodeSystem/http-error-codes", "code": "REC_BAD_REQUEST"}]}, "diagnostics": "Julie Jones 3478526985 is not known"}]}"#
                .utf8)
        let read = OperationOutcome.codes(in: body)
        #expect(read?.summary == "error invalid REC_BAD_REQUEST")
        #expect(read?.errors == [.badRequest])
    }
}

/// Phone numbers as people write them, in the referral's form.
@Suite struct PhoneNumberTests {
    @Test func bracketsAndHyphensGoAndSoDoesTheTrunkZeroAfterTheCountryCode() throws {
        var text = String(decoding: try ReferralMappingTests.bytes("servicerequest-request"), as: UTF8.self)
        text = text.replacingOccurrences(of: "0205568263", with: "+44 (0)1865-741.166")
        let mapping = try ReferralMapping.map(
            try InboundMessage.parse(Array(text.utf8)), concepts: ReferralMappingTests.concepts, vocabulary: .standard, now: Date())
        #expect(ReferralMappingTests.member(mapping.document, "referrer/phone") == .string("+44 1865 741 166"))
    }
}
