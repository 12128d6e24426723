import AdapterConformance
import AdapterKit
import FHIRR4Adapter
import Foundation
import JSONWebhookAdapter
import PortalAdapter
import ReferralModel
import TemplateAdapter
import Testing

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
let configDirectory = repositoryRoot.appendingPathComponent("config")

func setup(_ options: [String: ConfigValue.Kind] = [:], directory: URL = configDirectory) -> AdapterSetup {
    var values: [String: ConfigValue] = [:]
    for (line, (key, kind)) in options.sorted(by: { $0.key < $1.key }).enumerated() {
        values[key] = ConfigValue(kind, line: 10 + line, column: 7)
    }
    return AdapterSetup(
        options: values, line: 9, column: 5, configDirectory: directory, agencyId: "test-agency", endpoint: "https://agency.example.org/in")
}

let context = DeliveryContext(
    deliveryId: "01a20000-0000-7000-8000-000000000001", referralId: "01a20000-0000-7000-8000-000000000002", agencyId: "test-agency",
    rule: "test-rule", receivedAt: Date(timeIntervalSince1970: 1_795_000_000))

func optionErrors(_ make: () throws(AdapterOptionErrors) -> any AgencyAdapter) -> [AdapterOptionError] {
    do {
        _ = try make()
        return []
    } catch {
        return error.errors
    }
}

@Suite struct PortalAdapterTests {
    @Test func passesTheConformanceKitAndDeliversToTheInbox() throws {
        let adapter = try PortalAdapter(setup: setup())
        #expect(AdapterConformance.check(adapter).map(\.description) == [])
        #expect(PortalAdapter.deliversToInbox)
        #expect(!JSONWebhookAdapter.deliversToInbox, "every other adapter pushes over HTTP")
    }
}

@Suite struct JSONWebhookAdapterTests {
    @Test func passesTheConformanceKit() throws {
        let adapter = try JSONWebhookAdapter(setup: setup())
        #expect(AdapterConformance.check(adapter).map(\.description) == [])
    }

    @Test func refusesOptionsItDoesNotHave() {
        let errors = optionErrors { () throws(AdapterOptionErrors) in try JSONWebhookAdapter(setup: setup(["colour": .text("blue")])) }
        #expect(errors.map(\.message) == ["unknown option 'colour'"])
        #expect(errors.first?.line == 10)
    }

    @Test func recordsTheAgencysReferenceFromItsReply() throws {
        let adapter = try JSONWebhookAdapter(setup: setup())
        #expect(
            adapter.interpret(AgencyReply(status: 202, body: Array(#"{"reference":"CASE-42"}"#.utf8)), context: context)
                == .delivered(agencyReference: "CASE-42"))
        #expect(
            adapter.interpret(AgencyReply(status: 503, headers: [.init("Retry-After", "30")]), context: context)
                == .retryable(reason: "HTTP 503", retryAfter: 30))
    }
}

@Suite struct FHIRR4AdapterTests {
    func adapter() throws -> FHIRR4Adapter {
        try FHIRR4Adapter(setup: setup(["source_endpoint": .text("https://switchboard.example.org/fhir"), "receiver_ods": .text("RNU")]))
    }

    @Test func passesTheConformanceKit() throws {
        #expect(AdapterConformance.check(try adapter()).map(\.description) == [])
    }

    @Test func rendersABaRSStyleMessage() throws {
        let request = try adapter().render(ExampleReferrals.complete, context: context)
        #expect(request.contentType == "application/fhir+json")
        #expect(request.headers.contains(.init("X-Request-ID", context.deliveryId)))
        #expect(request.headers.contains(.init("X-Correlation-ID", context.referralId)))
        let bundle = try #require(try JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any])
        #expect(bundle["resourceType"] as? String == "Bundle")
        #expect(bundle["type"] as? String == "message")
        let resources = (bundle["entry"] as? [[String: Any]] ?? []).compactMap { $0["resource"] as? [String: Any] }
        #expect(resources.first?["resourceType"] as? String == "MessageHeader")
        func resource(_ type: String) -> [String: Any]? { resources.first { $0["resourceType"] as? String == type } }
        let serviceRequest = try #require(resource("ServiceRequest"))
        #expect(serviceRequest["status"] as? String == "active")
        #expect(serviceRequest["intent"] as? String == "order")
        #expect(serviceRequest["priority"] as? String == "urgent")
        let patient = try #require(resource("Patient"))
        let identifier = try #require((patient["identifier"] as? [[String: Any]])?.first)
        #expect(identifier["system"] as? String == "https://fhir.nhs.uk/Id/nhs-number")
        #expect(identifier["value"] as? String == "9990000018")
        let organisation = try #require(resource("Organization"))
        #expect((organisation["identifier"] as? [[String: Any]])?.first?["system"] as? String == "https://fhir.nhs.uk/Id/ods-organization-code")
        let header = try #require(resource("MessageHeader"))
        #expect((header["focus"] as? [[String: Any]])?.first?["reference"] as? String == "urn:uuid:\(serviceRequest["id"] as! String)")
    }

    @Test func emergencyIsStat() throws {
        let request = try adapter().render(ExampleReferrals.awkward, context: context)
        #expect(String(decoding: request.body, as: UTF8.self).contains(#""priority":"stat""#))
    }

    @Test func readsAnOperationOutcomeIntoTheReasonButNotItsFreeText() throws {
        let outcome =
            #"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid","diagnostics":"Patient Margaret Testperson not found","details":{"text":"NHS number 9997654323 unknown","coding":[{"code":"INVALID_NHS_NUMBER","display":"Margaret Testperson 9997654323 is not registered"},{"code":"Margaret Testperson"}]}}]}"#
        let result = try adapter().interpret(AgencyReply(status: 422, body: Array(outcome.utf8)), context: context)
        guard case .permanent(let reason) = result else {
            Issue.record("expected permanent, got \(result)")
            return
        }
        #expect(reason.hasSuffix("OperationOutcome: error invalid INVALID_NHS_NUMBER"))
        for personal in ["Margaret", "Testperson", "9997654323"] {
            #expect(!reason.contains(personal), "an agency's text (diagnostics, display, details.text) may carry the person's details")
        }
    }

    @Test func requiresItsOwnEndpointAsAURL() {
        let missing = optionErrors { () throws(AdapterOptionErrors) in try FHIRR4Adapter(setup: setup()) }
        #expect(missing.map(\.message) == ["option 'source_endpoint' is required"])
        let notURL = optionErrors { () throws(AdapterOptionErrors) in
            try FHIRR4Adapter(setup: setup(["source_endpoint": .text("switchboard"), "receiver_ods": .text("rnu")]))
        }
        #expect(Set(notURL.map(\.message)) == ["option 'source_endpoint' must be an http or https URL", "option 'receiver_ods' is not an ODS code"])
    }
}

@Suite struct TemplateAdapterTests {
    func template(_ text: String, contentType: String) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-templates-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try text.write(to: directory.appendingPathComponent("t.mustache"), atomically: true, encoding: .utf8)
        return directory
    }

    func errors(_ text: String, contentType: String) throws -> [AdapterOptionError] {
        let directory = try template(text, contentType: contentType)
        return optionErrors { () throws(AdapterOptionErrors) in
            try TemplateAdapter(setup: setup(["template": .text("t.mustache"), "content_type": .text(contentType)], directory: directory))
        }
    }

    func make(_ text: String, contentType: String) throws -> TemplateAdapter {
        let directory = try template(text, contentType: contentType)
        return try TemplateAdapter(setup: setup(["template": .text("t.mustache"), "content_type": .text(contentType)], directory: directory))
    }

    @Test(arguments: ["../../../../etc/passwd", "/etc/passwd", "templates/../../outside.json"])
    func aTemplateOutsideTheConfigurationFolderIsRefused(file: String) {
        let found = optionErrors { () throws(AdapterOptionErrors) in
            try TemplateAdapter(setup: setup(["template": .text(file), "content_type": .text("json")]))
        }
        #expect(found.map(\.message) == ["the template file \(file) is outside the configuration folder"], "\(found)")
    }

    @Test(arguments: [("templates/council-case.json.mustache", "json"), ("templates/community-referral.xml.mustache", "xml")])
    func theShippedTemplatesPassTheConformanceKit(file: String, contentType: String) throws {
        let adapter = try TemplateAdapter(setup: setup(["template": .text(file), "content_type": .text(contentType)]))
        #expect(AdapterConformance.check(adapter).map(\.description) == [])
    }

    @Test func aFormTemplatePassesTheConformanceKit() throws {
        let adapter = try make("ref={{referralId}}&name={{subject.givenName}}+{{subject.familyName}}&reason={{reason}}", contentType: "form")
        #expect(AdapterConformance.check(adapter).map(\.description) == [])
        #expect(adapter.mappedFields == [.givenName, .familyName, .reason])
    }

    @Test func valuesAreEscapedForTheContentType() throws {
        let json = try make(#"{"name": "{{subject.familyName}}", "reason": "{{reason}}"}"#, contentType: "json")
        let body = try json.render(ExampleReferrals.awkward, context: context).body
        let object = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: String])
        #expect(object["name"] == ExampleReferrals.awkward.subject.familyName)
        #expect(object["reason"] == ExampleReferrals.awkward.reason)
        let xml = try make("<r><n>{{subject.familyName}}</n></r>", contentType: "xml")
        #expect(
            String(decoding: try xml.render(ExampleReferrals.awkward, context: context).body, as: UTF8.self)
                == #"<r><n>Nguyễn &quot;Jnr&quot; &lt;b&gt;O&apos;Neill&lt;/b&gt;\</n></r>"#)
    }

    @Test func aMisspeltNameIsAConfigurationError() throws {
        let found = try errors(#"{"name": "{{subject.givnName}}"}"#, contentType: "json")
        #expect(found.count == 1)
        #expect(found.first?.message.contains("{{givnName}}") == true, "\(found)")
        #expect(found.first?.line == 11, "the line of the template option in agencies.yaml")
    }

    @Test func aTemplateThatGivesBrokenOutputIsAConfigurationError() throws {
        let found = try errors(#"{"name": {{subject.givenName}}}"#, contentType: "json")
        #expect(found.first?.message.contains("does not give valid json") == true, "\(found)")
        let xml = try errors("<a>{{reason}}</b>", contentType: "xml")
        #expect(xml.first?.message.contains("does not give valid xml") == true, "\(xml)")
    }

    @Test func aSyntaxErrorNamesTheTemplateLine() throws {
        let found = try errors("{\n  \"a\": \"{{#needs}}\"\n}", contentType: "json")
        #expect(found.first?.message.contains("t.mustache:") == true, "\(found)")
        #expect(found.first?.message.contains("does not compile") == true, "\(found)")
    }

    @Test func optionsAreChecked() {
        let errors = optionErrors { () throws(AdapterOptionErrors) in
            try TemplateAdapter(setup: setup(["content_type": .text("yaml"), "method": .text("DELETE")]))
        }
        #expect(
            Set(errors.map(\.message)) == [
                "option 'content_type' must be one of json, xml, form, text, not 'yaml'", "option 'method' must be one of POST, PUT, not 'DELETE'",
                "option 'template' is required",
            ])
    }
}

@Suite struct WithholdingTests {
    @Test func withheldFieldsAreRemovedOrMarked() {
        let all = Set(ReferralField.allCases).subtracting(ReferralField.essential)
        let minimised = ExampleReferrals.complete.withholding(all)
        #expect(minimised.subject.nhsNumber == nil)
        #expect(minimised.subject.address == nil)
        #expect(minimised.reason == Referral.withheldText)
        #expect(minimised.subject.givenName == ExampleReferrals.complete.subject.givenName, "essential fields stay")
        #expect(ExampleReferrals.complete.withholding([]) == ExampleReferrals.complete)
    }
}
