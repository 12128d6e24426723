import AdapterConformance
import AdapterKit
import FHIRR4Adapter
import Foundation
import ReferralModel
import Testing

/// What an NHS receiver expects of a BaRS message beyond FHIR R4: UK Core profiles, a MessageHeader
/// that names sender, receiver and reason, needs in SNOMED CT, consent and safeguarding as
/// resources of their own, and the target header. `scripts/check-fhir` checks the same of every
/// example with an independent FHIR library.
@Suite struct UKCoreFHIRTests {
    static let vocabulary = NeedsVocabulary(
        ["falls-prevention", "reablement", "safeguarding-adult"],
        codings: [
            "reablement": .snomed("306238000", "Referral to social services"),
            "safeguarding-adult": .snomed("514331000000104", "Referral to safeguarding adults team"),
        ])

    func adapter(_ extra: [String: ConfigValue.Kind] = [:]) throws -> FHIRR4Adapter {
        var options: [String: ConfigValue.Kind] = ["source_endpoint": .text("https://switchboard.example.org/fhir"), "receiver_ods": .text("RNU")]
        options.merge(extra) { $1 }
        var values: [String: ConfigValue] = [:]
        for (key, kind) in options { values[key] = ConfigValue(kind, line: 10, column: 7) }
        return try FHIRR4Adapter(
            setup: AdapterSetup(
                options: values, configDirectory: configDirectory, agencyId: "oxford-mh-crisis", endpoint: "https://agency.example.org/in",
                agencyName: "Oxford Health Adult Mental Health Crisis Team", vocabulary: Self.vocabulary))
    }

    struct Message {
        let headers: [OutboundRequest.Header]
        let bundle: [String: Any]
        let resources: [String: [String: Any]]

        func all(_ type: String) -> [[String: Any]] { resources.values.filter { $0["resourceType"] as? String == type } }
        func one(_ type: String) throws -> [String: Any] { try #require(all(type).first) }
        func resolve(_ reference: Any?) -> [String: Any]? {
            ((reference as? [String: Any])?["reference"] as? String).flatMap { resources[$0] }
        }
    }

    func render(_ referral: Referral, _ adapter: FHIRR4Adapter? = nil) throws -> Message {
        let request = try (adapter ?? self.adapter()).render(referral, context: context)
        let bundle = try #require(try JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any])
        var resources: [String: [String: Any]] = [:]
        for entry in bundle["entry"] as? [[String: Any]] ?? [] {
            resources[entry["fullUrl"] as! String] = entry["resource"] as? [String: Any]
        }
        return Message(headers: request.headers, bundle: bundle, resources: resources)
    }

    @Test func everyResourceClaimsItsUKCoreProfile() throws {
        let message = try render(ExampleReferrals.complete)
        for resource in [message.bundle] + Array(message.resources.values) {
            let kind = resource["resourceType"] as! String
            let profiles = (resource["meta"] as? [String: Any])?["profile"] as? [String]
            #expect(profiles == ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-\(kind)"], "\(kind)")
        }
    }

    @Test func theHeaderNamesSenderReceiverAndReason() throws {
        let message = try render(ExampleReferrals.complete)
        let header = try message.one("MessageHeader")
        let sender = try #require(message.resolve(header["sender"]))
        #expect((sender["identifier"] as? [[String: Any]])?.first?["value"] as? String == ExampleReferrals.complete.referrer.organisation)
        let destination = try #require((header["destination"] as? [[String: Any]])?.first)
        let receiver = try #require(message.resolve(destination["receiver"]))
        #expect(receiver["name"] as? String == "Oxford Health Adult Mental Health Crisis Team")
        #expect((receiver["identifier"] as? [[String: Any]])?.first?["value"] as? String == "RNU")
        let reason = (header["reason"] as? [String: Any])?["coding"] as? [[String: String]]
        #expect(reason == [["system": "https://fhir.nhs.uk/CodeSystem/message-reason-bars", "code": "new"]])
        let request = try #require(message.resolve((header["focus"] as? [Any])?.first))
        #expect(request["resourceType"] as? String == "ServiceRequest")
        #expect(message.resolve((request["performer"] as? [Any])?.first)?["name"] as? String == receiver["name"] as? String)
    }

    @Test func needsAreTheConfiguredSNOMEDConceptsAndTheRestIsText() throws {
        var referral = ExampleReferrals.complete
        referral.needs = ["falls-prevention", "reablement"]
        let code = try render(referral).one("ServiceRequest")["code"] as? [String: Any]
        #expect(
            code?["coding"] as? [[String: String]] == [
                ["system": "http://snomed.info/sct", "code": "306238000", "display": "Referral to social services"]
            ], "falls-prevention has no concept configured, so it is not coded at all")
        #expect(code?["text"] as? String == "falls-prevention, reablement")
        referral.needs = ["falls-prevention"]
        let uncoded = try render(referral).one("ServiceRequest")["code"] as? [String: Any]
        #expect(uncoded?["coding"] == nil)
        #expect(!String(decoding: try adapter().render(referral, context: context).body, as: UTF8.self).contains("urn:switchboard:need"))
    }

    @Test func consentIsAConsentResourceAndSafeguardingAFlag() throws {
        let refused = ExampleReferrals.withoutConsent
        let message = try render(refused)
        let consent = try message.one("Consent")
        #expect((consent["provision"] as? [String: Any])?["type"] as? String == "deny")
        #expect((consent["performer"] as? [[String: Any]])?.first?["display"] as? String == refused.consent.decisionMaker)
        #expect(((consent["policyRule"] as? [String: Any])?["text"] as? String)?.contains("vital-interests") == true)
        #expect(message.resolve(consent["patient"])?["resourceType"] as? String == "Patient")
        let flag = try message.one("Flag")
        #expect(flag["status"] as? String == "active")
        let category = (flag["category"] as? [[String: Any]])?.first?["coding"] as? [[String: String]]
        #expect(category?.first?["code"] == "safety")
        let supporting = (try message.one("ServiceRequest")["supportingInfo"] as? [Any] ?? []).compactMap {
            message.resolve($0)?["resourceType"] as? String
        }
        #expect(supporting == ["Consent", "Flag"])

        let given = try render(ExampleReferrals.complete)
        #expect((try given.one("Consent")["provision"] as? [String: Any])?["type"] as? String == "permit")
        #expect(given.all("Flag").isEmpty, "safeguarding false is not a flag")
        #expect(try render(ExampleReferrals.minimal).all("Flag").isEmpty, "nor is safeguarding not known")
    }

    @Test func thePatientCarriesGenderAndRegisteredPracticeWhenGiven() throws {
        var referral = ExampleReferrals.complete
        referral.subject.gender = .female
        referral.subject.registeredPractice = "K84001"
        referral.referrer.organisationName = "Example Road Surgery"
        let message = try render(referral)
        let patient = try message.one("Patient")
        #expect(patient["gender"] as? String == "female")
        let practice = (patient["generalPractitioner"] as? [[String: Any]])?.first?["identifier"] as? [String: String]
        #expect(practice == ["system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "K84001"])
        let header = try message.one("MessageHeader")
        #expect(message.resolve(header["sender"])?["name"] as? String == "Example Road Surgery")
        let unknown = try render(ExampleReferrals.minimal).one("Patient")
        #expect(unknown["gender"] == nil && unknown["generalPractitioner"] == nil)
    }

    @Test func theTargetHeaderNamesTheReceivingService() throws {
        func target(_ message: Message) throws -> [String: String]? {
            let value = try #require(message.headers.first { $0.name == "NHSD-Target-Identifier" }?.value)
            return try JSONSerialization.jsonObject(with: try #require(Data(base64Encoded: value))) as? [String: String]
        }
        #expect(try target(try render(ExampleReferrals.complete)) == ["system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "RNU"])
        let service = try adapter(["target_identifier": .text("2000017562")])
        #expect(
            try target(try render(ExampleReferrals.complete, service)) == ["system": "https://fhir.nhs.uk/Id/dos-service-id", "value": "2000017562"])
    }
}
