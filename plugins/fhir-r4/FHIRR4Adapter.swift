import AdapterKit
import BaRS
import Foundation
import ReferralModel

/// Sends the referral as a FHIR R4 message in the NHS Booking and Referral Standard's (BaRS)
/// pattern, with the UK Core profiles: a `Bundle` of type `message` whose `MessageHeader` (sender,
/// destination with the receiving organisation, reason `new`) points at a `ServiceRequest` for the
/// `Patient`, requested by the referrer (`PractitionerRole` of a `Practitioner` at an
/// `Organization`), with the consent as a `Consent` and a safeguarding concern as a `Flag`.
/// Needs are SNOMED CT concepts where the deployment's vocabulary maps them (text otherwise);
/// NHS numbers and ODS codes use the NHS identifier systems. `NHSD-Target-Identifier` names the
/// receiving service; `X-Request-ID` is the delivery id and `X-Correlation-ID` the referral id,
/// both stable across retries.
///
/// An amendment is the same message with reason `update`; a cancellation or withdrawal, reason
/// `cancel` with the ServiceRequest `revoked`, so the receiving system takes the referral back.
///
/// A reply's `OperationOutcome` is read into the failure reason: its coded parts (severity, code,
/// coding), never its free text, which may repeat the person's details.
public struct FHIRR4Adapter: AgencyAdapter {
    public static let name = "fhir-r4"
    public static let summary =
        "A FHIR R4 message Bundle with UK Core profiles (MessageHeader, ServiceRequest, Patient, Practitioner, Organization, Consent, Flag), BaRS style."
    public static let optionSpecs: [OptionSpec] = [
        OptionSpec("event_code", .text, summary: "MessageHeader.eventCoding code (default servicerequest-request)."),
        OptionSpec("event_system", .text, summary: "Its code system (default https://fhir.nhs.uk/CodeSystem/message-events-bars)."),
        OptionSpec(
            "source_endpoint", .text, required: true,
            summary: "MessageHeader.source.endpoint: this gateway's own FHIR endpoint URL, where the agency sends replies."),
        OptionSpec("destination_endpoint", .text, summary: "MessageHeader.destination.endpoint (default the agency's endpoint)."),
        OptionSpec("receiver_ods", .text, summary: "The receiving organisation's ODS code, for its Organization and the destination."),
        OptionSpec(
            "target_identifier", .text,
            summary: "The receiving service's id for the NHSD-Target-Identifier header (default its ODS code, receiver_ods)."),
        OptionSpec("target_system", .text, summary: "That id's system (default https://fhir.nhs.uk/Id/dos-service-id)."),
    ]

    public static let nhsNumberSystem = "https://fhir.nhs.uk/Id/nhs-number"
    public static let odsSystem = "https://fhir.nhs.uk/Id/ods-organization-code"
    public static let dosServiceSystem = "https://fhir.nhs.uk/Id/dos-service-id"

    public let mappedFields = Set(ReferralField.allCases)
    let message: MessageSettings

    public init(setup: AdapterSetup) throws(AdapterOptionErrors) {
        var reader = OptionReader(setup, specs: Self.optionSpecs)
        let receiverODS = reader.text("receiver_ods")
        var target: (system: String, value: String)?
        if let value = reader.text("target_identifier") {
            target = (reader.text("target_system") ?? Self.dosServiceSystem, value)
        } else if let receiverODS {
            target = (Self.odsSystem, receiverODS)
        }
        message = MessageSettings(
            eventCode: reader.text("event_code") ?? "servicerequest-request",
            eventSystem: reader.text("event_system") ?? "https://fhir.nhs.uk/CodeSystem/message-events-bars",
            sourceEndpoint: reader.text("source_endpoint") ?? "",
            destinationEndpoint: reader.text("destination_endpoint")
                ?? (setup.endpoint.isEmpty ? "urn:switchboard:agency:\(setup.agencyId)" : setup.endpoint),
            receiverODS: receiverODS, receiverName: setup.agencyName, target: target, codings: setup.vocabulary.codings)
        for (key, value) in [("source_endpoint", message.sourceEndpoint), ("destination_endpoint", message.destinationEndpoint)]
        where reader.text(key) != nil && !(value.hasPrefix("https://") || value.hasPrefix("http://")) {
            reader.fail(
                key, "option '\(key)' must be an http or https URL",
                hint: "FHIR's url type needs one, for example https://switchboard.example.org/fhir")
        }
        if let ods = receiverODS, !ODSCode.isValid(ods) {
            reader.fail("receiver_ods", "option 'receiver_ods' is not an ODS code", hint: "3 to 10 capital letters and digits, for example RNU")
        }
        if reader.text("target_system") != nil, reader.text("target_identifier") == nil {
            reader.fail("target_system", "option 'target_system' needs target_identifier beside it", hint: "or leave both out to use receiver_ods")
        }
        try reader.finish()
    }

    public static let noticesCarryReferral = true

    public func render(_ referral: Referral, context: DeliveryContext) throws -> OutboundRequest {
        try request(FHIRMessage(referral: referral, context: context, settings: message))
    }

    public func renderUpdate(_ referral: Referral, notice: ReferralNotice, context: DeliveryContext) throws -> OutboundRequest {
        try request(FHIRMessage(referral: referral, context: context, settings: message, reason: "update"))
    }

    /// A cancellation or withdrawal revokes the ServiceRequest; any other notice is the plain JSON one.
    public func renderNotice(_ notice: ReferralNotice, referral: Referral, context: DeliveryContext) throws -> OutboundRequest {
        guard ["referral.cancelled", "referral.withdrawn"].contains(notice.type) else { return try renderNotice(notice, context: context) }
        return try request(FHIRMessage(referral: referral, context: context, settings: message, reason: "cancel", status: "revoked"))
    }

    private func request(_ message: FHIRMessage) throws -> OutboundRequest {
        let context = message.context
        let bundle = message.bundle()
        let body = try JSONSerialization.data(withJSONObject: bundle, options: [.sortedKeys, .withoutEscapingSlashes])
        var headers: [OutboundRequest.Header] = [
            .init("X-Request-ID", context.deliveryId), .init("X-Correlation-ID", context.referralId), .init("Accept", "application/fhir+json"),
        ]
        if let target = self.message.target {
            // BaRS: the receiving service, as base64 of the JSON identifier {"system", "value"}.
            let identifier = try JSONSerialization.data(
                withJSONObject: ["system": target.system, "value": target.value], options: [.sortedKeys, .withoutEscapingSlashes])
            headers.append(.init("NHSD-Target-Identifier", identifier.base64EncodedString()))
        }
        return OutboundRequest(headers: headers, body: Array(body), contentType: "application/fhir+json")
    }

    public func interpret(_ reply: AgencyReply, context: DeliveryContext) -> DeliveryOutcome {
        if (200..<300).contains(reply.status) {
            let object = (try? JSONSerialization.jsonObject(with: Data(reply.body))) as? [String: Any]
            let reference = reply.header("Location") ?? (object?["id"] as? String)
            return .delivered(agencyReference: reference)
        }
        let base = HTTPReplyClassifier.classify(reply)
        // Codes only: an OperationOutcome's text (diagnostics, display, details.text) is the
        // agency's own and often quotes the patient. The delivery keeps the whole reply for
        // administrators; the reason, which is logged and audited, names codes alone.
        guard let summary = OperationOutcome.codes(in: reply.body)?.summary else { return base }
        switch base {
        case .retryable(let reason, let after): return .retryable(reason: "\(reason); OperationOutcome: \(summary)", retryAfter: after)
        case .permanent(let reason): return .permanent(reason: "\(reason); OperationOutcome: \(summary)")
        case .delivered, .accepted: return base
        }
    }

    static func priority(_ urgency: Urgency) -> String {
        switch urgency {
        case .routine: "routine"
        case .urgent: "urgent"
        case .emergency: "stat"
        }
    }
}

/// What an agency's options and the deployment fix about every message to it.
package struct MessageSettings: Sendable {
    package var eventCode: String
    package var eventSystem: String
    package var sourceEndpoint: String
    package var destinationEndpoint: String
    package var receiverODS: String?
    package var receiverName: String
    package var target: (system: String, value: String)?
    package var codings: [String: Coding]
    /// Set for the BaRS adapter: the message is a BaRS one (its profiles, `intent: plan`, its
    /// categories, the referral's id as the ServiceRequest's).
    package var bars: BaRSStyle?

    package init(
        eventCode: String, eventSystem: String, sourceEndpoint: String, destinationEndpoint: String, receiverODS: String?, receiverName: String,
        target: (system: String, value: String)?, codings: [String: Coding], bars: BaRSStyle? = nil
    ) {
        self.eventCode = eventCode
        self.eventSystem = eventSystem
        self.sourceEndpoint = sourceEndpoint
        self.destinationEndpoint = destinationEndpoint
        self.receiverODS = receiverODS
        self.receiverName = receiverName
        self.target = target
        self.codings = codings
        self.bars = bars
    }
}

/// What a BaRS message says that a generic FHIR R4 one does not.
package struct BaRSStyle: Sendable {
    package var softwareVersion: String
    package init(softwareVersion: String) { self.softwareVersion = softwareVersion }
}
