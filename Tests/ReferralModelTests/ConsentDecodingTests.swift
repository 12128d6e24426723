import Foundation
import ReferralModel
import Testing

/// The consent object: its status, and the record of a decision to share without consent.
@Suite struct ConsentDecodingTests {
    func body(consent: String, safeguarding: Bool = true) -> [UInt8] {
        Array(
            """
            {"referrer": {"organisation": "QVV", "name": "PC Test"},
             "subject": {"givenName": "Alan", "familyName": "Testcase", "birthDate": "1958-11-02", "postcode": "OX4 1AA"},
             "needs": ["safeguarding-adult"], "urgency": "emergency", "reason": "At risk.",
             "consent": \(consent), "safeguarding": \(safeguarding)}
            """.utf8)
    }

    func problems(_ consent: String) -> [String] {
        do {
            _ = try ReferralDecoder().decode(body(consent: consent), today: "2026-11-25")
            return []
        } catch .invalid(let failure) {
            return failure.issues.map { "\($0.pointer): \($0.detail)" }
        } catch {
            return ["\(error)"]
        }
    }

    @Test func aDecisionToShareWithoutConsentIsRecordedAndKeptInTheCanonicalForm() throws {
        let referral = try ReferralDecoder().decode(
            body(
                consent:
                    #"{"status": "refused", "lawfulBasis": "vital-interests", "decisionMaker": "PC Test, police officer", "decidedAt": "2026-11-24T21:40:00+01:00"}"#
            ), today: "2026-11-25")
        #expect(
            referral.consent
                == .init(
                    status: .refused, lawfulBasis: .vitalInterests, decisionMaker: "PC Test, police officer",
                    decidedAt: "2026-11-24T21:40:00+01:00"))
        #expect(try ReferralDecoder.decodeStored(referral.canonicalJSON()) == referral)
        let bestInterests = try ReferralDecoder().decode(
            body(consent: #"{"status": "best-interests", "decisionMaker": "Ward sister", "capacityAssessedBy": "Dr Test, consultant"}"#),
            today: "2026-11-25")
        #expect(bestInterests.consent.capacityAssessedBy == "Dr Test, consultant")
        // A share without consent is a decision someone made on a basis: both are required.
        #expect(
            problems(#"{"status": "refused"}"#) == [
                "/consent/lawfulBasis: is required when consent is refused: the basis for sharing anyway (vital-interests, public-task, legal-obligation, safeguarding).",
                "/consent/decisionMaker: is required when consent is refused: who decided to share without it, a name and role.",
            ])
        #expect(problems(#"{"status": "refused", "lawfulBasis": "safeguarding", "decisionMaker": "J Test, social worker"}"#).isEmpty)
    }

    @Test func everyMistakeInTheRecordIsExplained() {
        #expect(
            problems(#"{"status": "refused", "lawfulBasis": "because", "decisionMaker": "PC Test"}"#) == [
                "/consent/lawfulBasis: must be one of vital-interests, public-task, legal-obligation, safeguarding; \"because\" is not one of them."
            ])
        #expect(
            problems(#"{"status": "given", "lawfulBasis": "public-task"}"#) == [
                "/consent/lawfulBasis: is for sharing without consent; with consent given, consent is the basis, so leave it out."
            ])
        #expect(
            problems(#"{"status": "refused", "lawfulBasis": "vital-interests", "decisionMaker": "PC Test", "capacityAssessedBy": "Dr Test"}"#) == [
                "/consent/capacityAssessedBy: records a capacity assessment, which only a \"best-interests\" decision has."
            ])
        for bad in ["yesterday", "2026-11-24", "2026-02-30T10:00:00Z", "2026-11-24T25:00:00Z", "2026-11-24T10:00:00", "2026-11-24T10:00:00.Z"] {
            #expect(
                problems(#"{"status": "refused", "lawfulBasis": "vital-interests", "decisionMaker": "PC Test", "decidedAt": "\#(bad)"}"#) == [
                    "/consent/decidedAt: must be an RFC 3339 time such as 2026-11-25T14:30:00Z."
                ], "\(bad)")
        }
        for good in ["2026-11-24T10:00:00Z", "2026-11-24t10:00:00.123456z", "2026-11-24T10:00:60-05:30"] {
            #expect(
                problems(#"{"status": "refused", "lawfulBasis": "vital-interests", "decisionMaker": "PC Test", "decidedAt": "\#(good)"}"#).isEmpty,
                "\(good)")
        }
        #expect(problems(#"{"status": "refused", "reason": "x"}"#).first?.hasPrefix("/consent/reason") == true)
    }

    func childProblems(born: String, consent: String) -> [String] {
        do {
            let body = Array(
                """
                {"referrer": {"organisation": "A81001", "name": "Dr Test"},
                 "subject": {"givenName": "Sam", "familyName": "Testchild", "birthDate": "\(born)", "postcode": "OX4 1AA"},
                 "needs": ["carers-support"], "urgency": "urgent", "reason": "Young carer.", "consent": \(consent), "safeguarding": true}
                """.utf8)
            _ = try ReferralDecoder().decode(body, today: "2026-12-02")
            return []
        } catch .invalid(let failure) {
            return failure.issues.map { "\($0.pointer): \($0.detail)" }
        } catch {
            return ["\(error)"]
        }
    }

    @Test func aChildsConsentSaysWhoGaveIt() {
        let ten = "2016-03-10"
        #expect(
            childProblems(born: ten, consent: #"{"status": "best-interests", "decisionMaker": "Dr Test"}"#).first?.hasPrefix(
                "/consent/status: is \"best-interests\", a Mental Capacity Act decision, which applies from 16; this child is 10.") == true)
        #expect(
            childProblems(born: ten, consent: #"{"status": "given"}"#).first?.hasPrefix("/consent: is given for a child of 10: say who gave it")
                == true)
        #expect(childProblems(born: ten, consent: #"{"status": "given", "parentalResponsibility": "A Parent (mother)"}"#).isEmpty)
        #expect(childProblems(born: ten, consent: #"{"status": "given", "gillickCompetent": true}"#).isEmpty)
        // Sixteen and seventeen: the Mental Capacity Act applies, and they consent themselves.
        let sixteen = "2010-06-01"
        #expect(childProblems(born: sixteen, consent: #"{"status": "given"}"#).isEmpty)
        #expect(childProblems(born: sixteen, consent: #"{"status": "best-interests", "decisionMaker": "Dr Test"}"#).isEmpty)
        #expect(
            childProblems(born: sixteen, consent: #"{"status": "given", "gillickCompetent": true}"#).first?.hasPrefix("/consent/gillickCompetent")
                == true)
        // For adults, neither applies.
        #expect(
            childProblems(born: "1980-01-01", consent: #"{"status": "given", "parentalResponsibility": "A Parent"}"#)
                == ["/consent/parentalResponsibility: is for a child's consent; this person is 46, an adult."])
        #expect(
            childProblems(born: ten, consent: #"{"status": "not-required", "parentalResponsibility": "A Parent"}"#).first?.hasPrefix(
                "/consent/parentalResponsibility: records who gave a child's consent, so it goes with status \"given\".") == true)
    }
}

/// One definition of urgency everywhere, and the times a referrer may add to it.
@Suite struct UrgencyTests {
    func decode(_ extra: String) throws(ReferralDecoder.Failure) -> Referral {
        try ReferralDecoder().decode(
            Array(
                """
                {"referrer": {"organisation": "RTH", "name": "Ward 7"},
                 "subject": {"givenName": "Alan", "familyName": "Testcase", "birthDate": "1958-11-02", "postcode": "OX4 1AA"},
                 "needs": ["reablement"], "urgency": "urgent", "reason": "Discharge.", "consent": {"status": "given"}\(extra)}
                """.utf8), today: "2026-11-25")
    }

    @Test func respondByAndTheExpectedDischargeDateAreKeptInTheCanonicalForm() throws {
        let referral = try decode(#", "respondBy": "2026-11-27T17:00:00Z", "expectedDischargeDate": "2026-11-30""#)
        #expect(referral.respondBy == "2026-11-27T17:00:00Z")
        #expect(referral.expectedDischargeDate == "2026-11-30")
        #expect(try ReferralDecoder.decodeStored(referral.canonicalJSON()) == referral)
        #expect(try decode("").respondBy == nil)
    }

    @Test func aRespondByInThePastOrAnImpossibleDateIsExplained() {
        #expect(throws: ReferralDecoder.Failure.self) { try decode(#", "respondBy": "2026-11-24T17:00:00Z""#) }
        do {
            _ = try decode(#", "respondBy": "next week", "expectedDischargeDate": "2026-02-30""#)
            Issue.record("accepted")
        } catch .invalid(let failure) {
            #expect(failure.issues.map(\.pointer) == ["/respondBy", "/expectedDischargeDate"])
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func thePublishedSchemaStatesEachUrgencysDefinition() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let schema = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: root.appendingPathComponent("config/schema/referral.v1.json")))
                as? [String: Any])
        let description = try #require(((schema["properties"] as? [String: Any])?["urgency"] as? [String: Any])?["description"] as? String)
        for urgency in Urgency.allCases {
            #expect(description.contains("\(urgency.rawValue): \(urgency.definition)"), "\(urgency)")
        }
    }
}

/// Referring organisations that are not NHS bodies say what kind of code they give.
@Suite struct OrganisationTypeTests {
    func problems(_ referrer: String) -> [String] {
        let body = Array(
            """
            {"referrer": \(referrer),
             "subject": {"givenName": "Alan", "familyName": "Testcase", "birthDate": "1958-11-02", "postcode": "OX4 1AA"},
             "needs": ["adult-social-care"], "urgency": "routine", "reason": "Help at home.", "consent": {"status": "given"}}
            """.utf8)
        do {
            _ = try ReferralDecoder().decode(body, today: "2026-11-25")
            return []
        } catch .invalid(let failure) {
            return failure.issues.map { "\($0.pointer): \($0.detail)" }
        } catch {
            return ["\(error)"]
        }
    }

    @Test(arguments: [
        ("police-force", "E23000001"), ("police-force", "W15000004"), ("charity-number", "1012345"), ("charity-number", "SC012345"),
        ("local-authority", "E10000025"), ("local-authority", "E06000042"), ("self", "SELF"), ("ods", "A81001"),
    ])
    func eachKindOfCodeIsCheckedByItsOwnRule(type: String, code: String) {
        #expect(problems(#"{"organisation": "\#(code)", "organisationType": "\#(type)", "name": "X"}"#) == [])
    }

    @Test func aCodeOfTheWrongKindIsExplained() throws {
        #expect(
            problems(#"{"organisation": "A81001", "organisationType": "local-authority", "name": "X"}"#) == [
                "/referrer/organisation: must be a local authority's GSS code, for example E10000025 (a county) or E06000042 (a unitary authority)."
            ])
        #expect(
            problems(#"{"organisation": "ME", "organisationType": "self", "name": "X"}"#).first?.hasPrefix("/referrer/organisation: must be SELF")
                == true)
        #expect(
            problems(#"{"organisation": "A81001", "organisationType": "gp", "name": "X"}"#).first?.hasPrefix(
                "/referrer/organisationType: must be one of ods") == true)
        // Without a type it is an ODS code, as in referral v1, and reads back the same.
        #expect(problems(#"{"organisation": "a81001", "name": "X"}"#).first?.contains("must be an ODS code") == true)
        let referral = try ReferralDecoder().decode(
            Array(
                #"{"referrer": {"organisation": "E23000001", "organisationType": "police-force", "name": "PC Test"}, "subject": {"givenName": "A", "familyName": "B", "birthDate": "1958-11-02", "postcode": "OX4 1AA"}, "needs": ["safeguarding-adult"], "urgency": "emergency", "reason": "x", "consent": {"status": "given"}}"#
                    .utf8), today: "2026-11-25")
        #expect(referral.referrer.organisationType == .policeForce)
        #expect(try ReferralDecoder.decodeStored(referral.canonicalJSON()) == referral)
    }
}

/// Gender, the registered practice and the referring organisation's name: optional, kept exactly,
/// and checked.
@Suite struct PersonDetailsDecodingTests {
    func decode(referrer: String = "", subject: String = "") throws(ReferralDecoder.Failure) -> Referral {
        try ReferralDecoder().decode(
            Array(
                """
                {"referrer": {"organisation": "K84001", "name": "Dr Test"\(referrer)},
                 "subject": {"givenName": "Alan", "familyName": "Testcase", "birthDate": "1958-11-02", "postcode": "OX4 1AA"\(subject)},
                 "needs": ["reablement"], "urgency": "routine", "reason": "Discharge.", "consent": {"status": "given"}}
                """.utf8), today: "2026-11-25")
    }

    @Test func theyAreKeptInTheCanonicalForm() throws {
        let referral = try decode(
            referrer: #", "organisationName": "Example Road Surgery""#, subject: #", "gender": "female", "registeredPractice": "K84001""#)
        #expect(referral.referrer.organisationName == "Example Road Surgery")
        #expect(referral.subject.gender == .female)
        #expect(referral.subject.registeredPractice == "K84001")
        #expect(try ReferralDecoder.decodeStored(referral.canonicalJSON()) == referral)
        let unknown = try decode()
        #expect(unknown.subject.gender == nil && unknown.subject.registeredPractice == nil && unknown.referrer.organisationName == nil)
        #expect(!String(decoding: unknown.canonicalJSON(), as: UTF8.self).contains("gender"), "not known is left out, not sent as unknown")
    }

    @Test func aBadValueIsExplainedAtItsField() {
        do {
            _ = try decode(subject: #", "gender": "F", "registeredPractice": "k84 001""#)
            Issue.record("accepted")
        } catch .invalid(let failure) {
            #expect(
                failure.issues.map { "\($0.pointer): \($0.detail)" } == [
                    "/subject/gender: must be one of male, female, other, unknown; \"F\" is not one of them.",
                    "/subject/registeredPractice: must be the GP practice's ODS code: 3 to 10 capital letters and digits, for example K84001.",
                ])
        } catch {
            Issue.record("\(error)")
        }
    }
}
