import Foundation
import ReferralModel
import Testing

/// What a name or identifier may hold: nothing that makes it display as something else.
@Suite struct TextCharacterTests {
    func problems(_ change: (inout [String: Any]) -> Void) throws -> [String] {
        var referral = ExampleReferralsJSON.falls()
        change(&referral)
        let body = Array(try JSONSerialization.data(withJSONObject: referral))
        do {
            _ = try ReferralDecoder().decode(body, today: "2026-12-02")
            return []
        } catch .invalid(let failure) {
            return failure.issues.map { "\($0.pointer): \($0.detail)" }
        } catch {
            return ["\(error)"]
        }
    }

    @Test func namesAndIdentifiersRefuseCharactersThatDisplayAsSomethingElse() throws {
        for scalar in [0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069, 0x2028, 0x2029] {
            let character = String(Character(Unicode.Scalar(scalar)!))
            let found = try problems { referral in
                var subject = referral["subject"] as! [String: Any]
                subject["familyName"] = "Smith" + character + "nhoJ"
                referral["subject"] = subject
                referral["externalReference"] = "EMIS" + character + "1"
            }
            let code = "U+" + String(scalar, radix: 16, uppercase: true)
            #expect(
                found == [
                    "/subject/familyName: must not contain bidirectional controls or line separators, which make a name or identifier display as something else; it holds \(code).",
                    "/externalReference: must not contain bidirectional controls or line separators, which make a name or identifier display as something else; it holds \(code).",
                ], "\(code)")
        }
        // Free text keeps them: a reason may mix writing directions.
        #expect(try problems { $0["reason"] = "Speaks Arabic: \u{202B}مرحبا\u{202C}, and needs an interpreter." }.isEmpty)
        // The marks that only say which way text runs are not refused anywhere.
        #expect(
            try problems { referral in
                var subject = referral["subject"] as! [String: Any]
                subject["familyName"] = "Smith\u{200F}"
                referral["subject"] = subject
            }.isEmpty)
    }

    @Test func anNHSNumberIsShownThreeThreeFour() {
        #expect(NHSNumber.display("9990000018") == "999 000 0018")
    }
}

/// The falls example as a JSON object, for tests that change one field.
enum ExampleReferralsJSON {
    static func falls() -> [String: Any] {
        [
            "referrer": ["organisation": "K84001", "name": "Dr Test"],
            "subject": [
                "nhsNumber": "9990000018", "givenName": "Margaret", "familyName": "Testperson", "birthDate": "1941-03-14", "postcode": "OX3 9DU",
            ],
            "needs": ["falls-prevention"], "urgency": "urgent", "reason": "Two falls at home.", "consent": ["status": "given"],
        ]
    }
}
