import Foundation
import ReferralModel
import Testing

/// A valid referral as a referrer would send it; tests change one thing at a time.
func validReferral() -> [String: Any] {
    [
        "referrer": ["organisation": "K84001", "name": "Dr Priya Natarajan", "email": "p.natarajan@example.nhs.uk"],
        "subject": [
            "nhsNumber": "999 000 0018", "givenName": "Margaret", "familyName": "Testperson", "birthDate": "1941-03-14",
            "postcode": "ox3 9du",
        ],
        "needs": ["falls-prevention"],
        "urgency": "urgent",
        "reason": "Two falls at home in the past month.",
        "consent": ["status": "given"],
    ]
}

func encode(_ object: [String: Any]) -> [UInt8] {
    Array(try! JSONSerialization.data(withJSONObject: object))
}

func issues(_ object: [String: Any], today: String = "2026-11-23") -> [FieldIssue] {
    do {
        _ = try ReferralDecoder().decode(encode(object), today: today)
        return []
    } catch .invalid(let failure) {
        return failure.issues
    } catch {
        Issue.record("expected a validation failure, got \(error)")
        return []
    }
}

func pointers(_ object: [String: Any]) -> [String] { issues(object).map(\.pointer) }

@Suite struct ReferralDecoderTests {
    @Test func decodesAndNormalisesAValidReferral() throws {
        let referral = try ReferralDecoder().decode(encode(validReferral()), today: "2026-11-23")
        #expect(referral.subject.nhsNumber == "9990000018")
        #expect(referral.subject.postcode == "OX3 9DU")
        #expect(referral.needs == ["falls-prevention"])
        #expect(referral.urgency == .urgent)
        #expect(referral.consent.status == .given)
    }

    @Test func reportsEveryProblemAtOnceWithPointers() {
        var body = validReferral()
        var subject = body["subject"] as! [String: Any]
        subject["nhsNumber"] = "999 000 0019"
        subject["postcode"] = "not a postcode"
        subject["middleName"] = "Ann"
        body["subject"] = subject
        body["urgency"] = "soon"
        body["needs"] = ["falls"]
        body.removeValue(forKey: "reason")
        let found = Set(pointers(body))
        #expect(
            found == [
                "/subject/nhsNumber", "/subject/postcode", "/subject/middleName", "/urgency", "/needs/0", "/reason",
            ])
    }

    enum Value: Sendable {
        case text(String)
        case integer(Int)
        var json: Any {
            switch self {
            case .text(let text): text
            case .integer(let number): number
            }
        }
    }

    @Test(arguments: [
        ("/subject/nhsNumber", "subject", "nhsNumber", Value.text("9990000019"), "check digit"),
        ("/subject/nhsNumber", "subject", "nhsNumber", .text("99900000"), "10 digits"),
        ("/subject/nhsNumber", "subject", "nhsNumber", .integer(9_990_000_018), "must be a string, not an integer"),
        ("/subject/postcode", "subject", "postcode", .text("OX12 JD"), "UK postcode"),
        ("/subject/birthDate", "subject", "birthDate", .text("2031-01-01"), "in the future"),
        ("/subject/birthDate", "subject", "birthDate", .text("1941-02-30"), "calendar date"),
        ("/subject/givenName", "subject", "givenName", .text(""), "must not be empty"),
        ("/subject/interpreterNeeded", "subject", "interpreterNeeded", .text("yes"), "true or false"),
        ("/referrer/organisation", "referrer", "organisation", .text("a81001"), "ODS code"),
        ("/referrer/email", "referrer", "email", .text("not an email"), "email address"),
        ("/referrer/phone", "referrer", "phone", .text("call me"), "phone number"),
    ])
    func rejectsABadField(pointer: String, object: String, field: String, value: Value, words: String) {
        var body = validReferral()
        var inner = body[object] as! [String: Any]
        inner[field] = value.json
        body[object] = inner
        let found = issues(body)
        #expect(found.map(\.pointer) == [pointer])
        #expect(found.first?.detail.contains(words) == true, "\(found)")
    }

    @Test func rejectsUnknownFieldsAtEveryDepth() {
        var body = validReferral()
        body["priority"] = 1
        body["consent"] = ["status": "given", "recordedBy": "GP"]
        #expect(Set(pointers(body)) == ["/priority", "/consent/recordedBy"])
    }

    @Test func rejectsAReasonOverTenThousandCharacters() {
        var body = validReferral()
        body["reason"] = String(repeating: "é", count: 10_000)
        #expect(pointers(body).isEmpty, "10,000 characters is the limit, counted as JSON Schema counts them")
        body["reason"] = String(repeating: "é", count: 10_001)
        #expect(pointers(body) == ["/reason"])
    }

    @Test func refusedConsentNeedsSafeguarding() {
        var body = validReferral()
        body["consent"] = ["status": "refused", "lawfulBasis": "vital-interests", "decisionMaker": "PC Test"]
        #expect(pointers(body) == ["/consent/status"])
        body["safeguarding"] = true
        #expect(pointers(body).isEmpty)
    }

    @Test func needsMustBeKnownAndUnique() {
        var body = validReferral()
        body["needs"] = []
        #expect(pointers(body) == ["/needs"])
        body["needs"] = ["reablement", "reablement"]
        #expect(pointers(body) == ["/needs/1"])
        body["needs"] = ["reablement", 3]
        #expect(pointers(body) == ["/needs/1"])
    }

    @Test func nullIsNotAValue() {
        var body = validReferral()
        body["safeguarding"] = NSNull()
        body["urgency"] = NSNull()
        #expect(Set(pointers(body)) == ["/safeguarding", "/urgency"])
    }

    @Test func theBodyMustBeAnObject() {
        #expect(throws: ReferralDecoder.Failure.self) { try ReferralDecoder().decode(Array("[1,2]".utf8)) }
    }

    @Test func malformedJSONIsASyntaxErrorWithItsPlace() {
        do {
            _ = try ReferralDecoder().decode(Array("{\n  \"needs\": [1,]\n}".utf8))
            Issue.record("expected a syntax error")
        } catch .syntax(let error) {
            #expect(error.line == 2)
            #expect(error.description.contains("line 2"))
        } catch {
            Issue.record("expected a syntax error, got \(error)")
        }
    }
}

@Suite struct JSONParserTests {
    @Test func parsesEscapesAndSurrogatePairs() throws {
        let value = try JSONParser.parse(Array(#"{"a":"\u00e9\ud83d\ude00\n\"x\"","b":[true,false,null,-1.5e3,0]}"#.utf8))
        guard case .object(let object) = value else {
            Issue.record("not an object")
            return
        }
        #expect(object["a"] == .string("é😀\n\"x\""))
        #expect(object["b"] == .array([.bool(true), .bool(false), .null, .number(-1500, isInteger: false), .number(0, isInteger: true)]))
    }

    @Test(arguments: [
        #"{"a":1,"a":2}"#, #"{"a":01}"#, #"{"a":"\ud800"}"#, #"[1] 2"#, #"{"a":tru}"#, "{\"a\":\"\u{01}\"}", #"{'a':1}"#, "",
    ])
    func rejects(_ text: String) {
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(Array(text.utf8)) }
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse([0x22, 0xC3, 0x28, 0x22]) }
    }

    @Test func limitsNesting() {
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(Array(deep.utf8)) }
        let fine = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(throws: Never.self) { try JSONParser.parse(Array(fine.utf8)) }
    }
}

@Suite struct IdentifierTests {
    @Test(arguments: [("999 000 0034", "9990000034"), ("9990000018", "9990000018"), ("999 000 0026", "9990000026")])
    func acceptsValidNHSNumbers(text: String, digits: String) throws {
        #expect(try NHSNumber.normalise(text).get() == digits)
    }

    @Test(arguments: ["9990000035", "999 000 003", "999-000-0034", "99900000340", "9990000 034", "１２３４５６７８９０"])
    func rejectsInvalidNHSNumbers(_ text: String) {
        #expect(throws: NHSNumberError.self) { try NHSNumber.normalise(text).get() }
    }

    @Test func aNumberWhoseCheckWouldBeTenIsNeverValid() {
        // 1000000010: weights give remainder 1, so the check digit would be 10.
        #expect(throws: NHSNumberError.checkDigit) { try NHSNumber.normalise("1000000010").get() }
    }

    @Test(arguments: [
        ("OX1 2JD", "OX1 2JD"), ("ox12jd", "OX1 2JD"), ("SW1A 1AA", "SW1A 1AA"), ("M1 1AE", "M1 1AE"), ("B338TH", "B33 8TH"),
        ("CR2 6XH", "CR2 6XH"), ("DN55 1PT", "DN55 1PT"), ("W1A 0AX", "W1A 0AX"),
    ])
    func normalisesPostcodes(text: String, expected: String) {
        #expect(Postcode.normalise(text) == expected)
    }

    @Test(arguments: ["OX1  2JD", "OX12 JD", "1X1 2JD", "OX1 2J", "OXX1 2JD", " OX1 2JD", "OX1 2JD ", "ÖX1 2JD", "OX1-2JD"])
    func rejectsNonPostcodes(_ text: String) {
        #expect(Postcode.normalise(text) == nil)
    }

    @Test func postcodePrefixesRunFromAreaToUnit() {
        #expect(Postcode.prefixes(of: "OX1 2JD") == ["OX", "OX1", "OX1 2", "OX1 2JD"])
        #expect(Postcode.prefixes(of: "M1 1AE") == ["M", "M1", "M1 1", "M1 1AE"])
    }

    @Test func identifiersAreTimeOrderedAndWellFormed() {
        let first = Identifier.make(now: Date(timeIntervalSince1970: 1_700_000_000))
        let second = Identifier.make(now: Date(timeIntervalSince1970: 1_700_000_001))
        #expect(first < second)
        #expect(Identifier.isWellFormed(first))
        #expect(!Identifier.isWellFormed("not-an-id"))
        #expect(!Identifier.isWellFormed(first.uppercased()))
    }

    @Test func timestampsAreUTCWithMilliseconds() {
        #expect(Timestamp.string(Date(timeIntervalSince1970: 1_700_000_000.123)) == "2023-11-14T22:13:20.123Z")
    }

    @Test func referralStatusFollowsItsDeliveries() {
        #expect(ReferralStatus.derive(from: [.pending, .delivered]) == .routed)
        #expect(ReferralStatus.derive(from: [.delivered, .delivered]) == .delivered)
        #expect(ReferralStatus.derive(from: [.delivered, .deadLettered]) == .needsAttention)
    }
}

@Suite struct CanonicalJSONTests {
    @Test func readsBackAsTheSameReferralWithSortedKeys() throws {
        var referral = try ReferralDecoder().decode(encode(validReferral()), today: "2026-11-23")
        referral.reason = "Line one\nline \"two\"\t\\ \u{01} é 😀 </script>"
        referral.safeguarding = false
        let data = referral.canonicalJSON()
        #expect(try JSONDecoder().decode(Referral.self, from: data) == referral)
        let text = String(decoding: data, as: UTF8.self)
        #expect(
            text.hasPrefix(
                #"{"consent":{"status":"given"},"needs":["falls-prevention"],"reason":"Line one\nline \"two\"\t\\ \u0001 é 😀 </script>","referrer":{"#
            ))
        #expect(!text.contains("nil") && !text.contains("null"), "absent optional fields are left out")
        // The same referral always gives the same bytes.
        #expect(referral.canonicalJSON() == data)
        // Keys in the order a sorted-keys JSONEncoder would write them.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let viaEncoder = try JSONSerialization.jsonObject(with: try encoder.encode(referral)) as? NSDictionary
        #expect(try JSONSerialization.jsonObject(with: data) as? NSDictionary == viaEncoder)
    }
}

@Suite struct ReceiptJSONTests {
    @Test func aReceiptReadsBackAsItself() throws {
        let receipt = SubmissionReceipt(
            id: ReferralID.make(), status: .routed,
            routes: [Route(agency: "a", rule: "r1", deliveryId: "d1"), Route(agency: "b", rule: "fallback", deliveryId: "d2")],
            rulesVersion: "sha256:abc")
        #expect(try JSONDecoder().decode(SubmissionReceipt.self, from: receipt.canonicalJSON()) == receipt)
    }
}
