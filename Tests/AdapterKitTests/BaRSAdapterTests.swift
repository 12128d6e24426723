import AdapterConformance
import AdapterKit
import BaRS
import BaRSAdapter
import Foundation
import ReferralModel
import Testing

/// The bars adapter as a BaRS receiver (and the NHS API platform's proxy) reads it: the message,
/// its headers, and what the receiver's reply means. `scripts/check-bars` checks every example
/// referral's message against the BaRS specification's schemas and StructureDefinitions.
@Suite struct BaRSAdapterTests {
    func adapter(_ extra: [String: ConfigValue.Kind] = [:]) throws -> BaRSAdapter {
        var options: [String: ConfigValue.Kind] = [
            "target_identifier": .text("2000072489"), "source_identifier": .text("2000099999"), "receiver_ods": .text("RNU"),
            "use_context": .text("a4t2"),
        ]
        options.merge(extra) { $1 }
        return try BaRSAdapter(setup: setup(options))
    }

    func message(_ request: OutboundRequest) throws -> (bundle: [String: Any], resources: [[String: Any]]) {
        let object = try JSONSerialization.jsonObject(with: Data(request.body))
        let bundle = try #require(object as? [String: Any])
        let resources = (bundle["entry"] as? [[String: Any]] ?? []).compactMap { $0["resource"] as? [String: Any] }
        return (bundle, resources)
    }

    func header(_ request: OutboundRequest, _ name: String) -> String? { request.headers.last { $0.name == name }?.value }

    func decoded(_ request: OutboundRequest, _ name: String) throws -> [String: Any] {
        let value = try #require(header(request, name))
        let data = try #require(Data(base64Encoded: value))
        let object = try JSONSerialization.jsonObject(with: data)
        return try #require(object as? [String: Any])
    }

    @Test func passesTheConformanceKit() throws {
        #expect(AdapterConformance.check(try adapter()).map(\.description) == [])
    }

    @Test func sendsEveryHeaderTheSpecificationRequires() throws {
        let request = try adapter().render(ExampleReferrals.complete, context: context)
        #expect(request.contentType == "application/fhir+json")
        #expect(try decoded(request, "NHSD-Target-Identifier") as NSDictionary == ["system": BaRS.dosServiceSystem, "value": "2000072489"])
        #expect(header(request, "X-Request-Id") == context.deliveryId)
        #expect(header(request, "X-Correlation-Id") == context.referralId)
        let organisation = try decoded(request, "NHSD-End-User-Organisation")
        #expect(organisation["resourceType"] as? String == "Organization")
        #expect(((organisation["identifier"] as? [[String: Any]])?.first?["value"] as? String) == ExampleReferrals.complete.referrer.organisation)
        #expect(try decoded(request, "NHSD-Requesting-Software")["resourceType"] as? String == "Device")
        #expect(header(request, "use-context") == "a4t2|referral|servicerequest-request|new")
        #expect(header(request, "Accept") == "application/fhir+json; version=1.0.0")
    }

    @Test func theMessageIsBaRSNotGenericFHIR() throws {
        let (bundle, resources) = try message(try adapter().render(ExampleReferrals.complete, context: context))
        #expect((bundle["meta"] as? [String: Any])?["profile"] as? [String] == [BaRS.bundleProfile])
        let header = try #require(resources.first)
        #expect(header["resourceType"] as? String == "MessageHeader")
        #expect((header["eventCoding"] as? NSDictionary) == ["system": BaRS.eventSystem, "code": "servicerequest-request"])
        #expect(((header["destination"] as? [[String: Any]])?.first?["endpoint"] as? String) == "\(BaRS.dosServiceSystem)|2000072489")
        #expect(((header["source"] as? [String: Any])?["endpoint"] as? String) == "\(BaRS.dosServiceSystem)|2000099999")
        let request = try #require(resources.first { $0["resourceType"] as? String == "ServiceRequest" })
        #expect(request["intent"] as? String == "plan")
        #expect(request["id"] as? String == context.referralId, "the receiver's response names the referral")
        let categories = try #require(request["category"] as? [[String: Any]])
        #expect(categories.count == 1)
        #expect((categories[0]["coding"] as? [[String: Any]])?.first?["code"] as? String == "referral")
    }

    @Test func anUpdateAndACancellationAreTheSameRequestWithTheirReasons() throws {
        let adapter = try adapter()
        let update = try adapter.renderUpdate(
            ExampleReferrals.complete, notice: ReferralNotice(type: "referral.updated", about: context.deliveryId), context: context)
        #expect(header(update, "use-context") == "a4t2|referral|servicerequest-request|update")
        let cancel = try adapter.renderNotice(
            ReferralNotice(type: "referral.cancelled", about: context.deliveryId), referral: ExampleReferrals.complete, context: context)
        let (_, resources) = try message(cancel)
        let reason = ((resources.first?["reason"] as? [String: Any])?["coding"] as? [[String: Any]])?.first?["code"] as? String
        #expect(reason == "cancel")
        #expect(resources.first { $0["resourceType"] as? String == "ServiceRequest" }?["status"] as? String == "revoked")
    }

    @Test func theReceiversReplyDecidesRetryDeadLetterOrDone() throws {
        let adapter = try adapter()
        func outcome(_ status: Int, _ code: String, type: String = "invalid") -> AgencyReply {
            AgencyReply(
                status: status,
                body: Array(
                    #"{"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "\#(type)", "details": {"coding": [{"system": "https://fhir.nhs.uk/CodeSystem/http-error-codes", "code": "\#(code)"}]}, "diagnostics": "Patient Julie Jones not known"}]}"#
                        .utf8))
        }
        guard case .retryable(let reason, _) = adapter.interpret(outcome(500, "REC_SERVER_ERROR", type: "exception"), context: context) else {
            Issue.record("a server error is worth trying again")
            return
        }
        #expect(reason.contains("REC_SERVER_ERROR"))
        guard case .permanent(let refusal) = adapter.interpret(outcome(422, "REC_UNPROCESSABLE_ENTITY"), context: context) else {
            Issue.record("an unprocessable message is the message to fix")
            return
        }
        #expect(refusal.contains("REC_UNPROCESSABLE_ENTITY") && !refusal.contains("Julie"))
        // A 409 duplicate: an earlier attempt arrived.
        #expect(adapter.interpret(outcome(409, "REC_CONFLICT", type: "duplicate"), context: context) == .delivered(agencyReference: nil))
        guard case .retryable = adapter.interpret(outcome(408, "REC_TIMEOUT", type: "timeout"), context: context) else {
            Issue.record("a timeout is worth trying again")
            return
        }
        let fatal =
            #"{"resourceType": "Bundle", "type": "message", "entry": [{"resource": {"resourceType": "MessageHeader", "response": {"identifier": "x", "code": "fatal-error"}}}]}"#
        guard case .permanent = adapter.interpret(AgencyReply(status: 200, body: Array(fatal.utf8)), context: context) else {
            Issue.record("a 200 that says fatal-error is not delivered")
            return
        }
        #expect(adapter.interpret(AgencyReply(status: 200), context: context) == .delivered(agencyReference: nil))
    }

    @Test func itsIdsAndCodesAreChecked() {
        let missing = optionErrors { () throws(AdapterOptionErrors) in try BaRSAdapter(setup: setup()) }
        #expect(Set(missing.map(\.message)) == ["option 'target_identifier' is required", "option 'source_identifier' is required"])
        let wrong = optionErrors { () throws(AdapterOptionErrors) in
            try BaRSAdapter(
                setup: setup([
                    "target_identifier": .text("a b"), "source_identifier": .text("1"), "target_system": .text("dos"), "api_version": .text("one"),
                ]))
        }
        #expect(wrong.count == 3)
    }
}
