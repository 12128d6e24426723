import AdapterKit
import FHIRR4Adapter
import Foundation
import JSONWebhookAdapter
import ReferralModel
import TemplateAdapter
import Testing

/// "Not known" stays not known through every adapter: what the referrer did not say is left out,
/// never sent as `false` or an empty string a receiving system would read as an answer.
@Suite struct HonestDataTests {
    /// The minimal example says nothing of an NHS number, an interpreter or safeguarding.
    let unknown = ExampleReferrals.minimal

    func json(_ body: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
    }

    @Test func theCouncilTemplateLeavesOutWhatWasNotGivenAndKeepsAnExplicitNo() throws {
        let adapter = try TemplateAdapter(
            setup: setup(["template": .text("templates/council-case.json.mustache"), "content_type": .text("json")]))
        let document = try json(try adapter.render(unknown, context: context).body)
        let person = try #require(document["person"] as? [String: Any])
        #expect(person["nhsNumber"] == nil && person["address"] == nil && person["telephone"] == nil)
        #expect(person["interpreterRequired"] == nil)
        #expect(document["safeguardingConcern"] == nil)
        var answered = unknown
        answered.subject.interpreterNeeded = false
        answered.safeguarding = false
        let explicit = try json(try adapter.render(answered, context: context).body)
        #expect((explicit["person"] as? [String: Any])?["interpreterRequired"] as? Bool == false)
        #expect(explicit["safeguardingConcern"] as? Bool == false)
        let complete = try json(try adapter.render(ExampleReferrals.complete, context: context).body)
        #expect((complete["person"] as? [String: Any])?["nhsNumber"] as? String == "9990000018")
    }

    @Test func theCommunityTemplateHasNoEmptyElements() throws {
        let adapter = try TemplateAdapter(
            setup: setup(["template": .text("templates/community-referral.xml.mustache"), "content_type": .text("xml")]))
        let xml = String(decoding: try adapter.render(unknown, context: context).body, as: UTF8.self)
        #expect(!xml.contains("<NHSNumber>") && !xml.contains("<Address>") && !xml.contains("<Telephone>"))
        let empty = try NSRegularExpression(pattern: #"<(\w+)[^>]*></\1>"#)
        #expect(empty.firstMatch(in: xml, range: NSRange(xml.startIndex..., in: xml)) == nil, "no element is sent empty")
    }

    @Test func theFHIRMessageAndTheCanonicalJSONSayNothingOfWhatWasNotGiven() throws {
        let fhir = try FHIRR4Adapter(
            setup: setup(["source_endpoint": .text("https://switchboard.example.org/fhir"), "receiver_ods": .text("RNU")]))
        let bundle = String(decoding: try fhir.render(unknown, context: context).body, as: UTF8.self)
        #expect(!bundle.contains("nhs-number") && !bundle.contains("interpreterRequired") && !bundle.contains("Safeguarding concern"))
        #expect(!bundle.contains("\"gender\"") && !bundle.contains("generalPractitioner") && !bundle.contains("\"Flag\""))
        let webhook = try json(try JSONWebhookAdapter(setup: setup()).render(unknown, context: context).body)
        let referral = try #require((webhook["data"] as? [String: Any])?["referral"] as? [String: Any])
        #expect(referral["safeguarding"] == nil)
        #expect((referral["subject"] as? [String: Any])?.keys.contains("interpreterNeeded") == false)
    }
}
