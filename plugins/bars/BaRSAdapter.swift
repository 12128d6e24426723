import AdapterKit
import BaRS
import FHIRR4Adapter
import Foundation
import ReferralModel

/// Sends referrals to an NHS service as the Booking and Referral Standard (BaRS) specifies: a
/// `servicerequest-request` message Bundle (BaRS profiles; MessageHeader event from
/// `message-events-bars`, reason `new`, `update` or `cancel` from `message-reason-bars`;
/// ServiceRequest `intent: plan` with the BaRS `referral` category, `revoked` when taken back), to
/// the receiving service named by its Endpoint Catalogue (Directory of Services) id, with every
/// header the specification requires: `NHSD-Target-Identifier`, `X-Request-Id` (the delivery),
/// `X-Correlation-Id` (the referral), `NHSD-End-User-Organisation` (the referring organisation),
/// `NHSD-Requesting-Software`, `use-context` and `Accept` with the API version.
///
/// The receiver's synchronous reply is read, not just its status: an OperationOutcome's BaRS error
/// code decides what happens (`REC_SERVER_ERROR`, `REC_UNAVAILABLE`, `REC_TOO_MANY_REQUESTS`,
/// `REC_TIMEOUT` try again; `REC_CONFLICT` with a `duplicate` issue means it already has the message;
/// `REC_BAD_REQUEST`, `REC_UNPROCESSABLE_ENTITY` and the rest are the message to fix, a dead letter
/// with the codes). Its answer comes later, as a `servicerequest-response` to the gateway's own
/// `$process-message`. The ServiceRequest carries the referral's id (its `id` and identifier
/// `urn:switchboard:referral`) in every message, so that answer names the referral.
public struct BaRSAdapter: AgencyAdapter {
    public static let name = "bars"
    public static let summary =
        "NHS Booking and Referral Standard: a servicerequest-request message with BaRS profiles and headers, to a service's Endpoint Catalogue id."
    public static let optionSpecs: [OptionSpec] = [
        OptionSpec(
            "target_identifier", .text, required: true,
            summary: "The receiving service's Endpoint Catalogue (Directory of Services) id: NHSD-Target-Identifier and destination."),
        OptionSpec("target_system", .text, summary: "That id's system (default https://fhir.nhs.uk/Id/dos-service-id)."),
        OptionSpec(
            "source_identifier", .text, required: true,
            summary: "This gateway's own Endpoint Catalogue id, where the receiver sends its response (MessageHeader.source.endpoint)."),
        OptionSpec("source_system", .text, summary: "That id's system (default https://fhir.nhs.uk/Id/dos-service-id)."),
        OptionSpec("receiver_ods", .text, summary: "The receiving organisation's ODS code, for its Organization."),
        OptionSpec("use_context", .text, summary: "The first part of the use-context header, as NHS England assigned it (default switchboard)."),
        OptionSpec("api_version", .text, summary: "The BaRS API version asked for in Accept (default 1.0.0)."),
    ]

    /// This build's version, in NHSD-Requesting-Software and MessageHeader.source.
    public static let softwareVersion = "1.0.0"

    public let mappedFields = Set(ReferralField.allCases)
    let settings: MessageSettings
    let target: (system: String, value: String)
    let useContext: String
    let accept: String

    public init(setup: AdapterSetup) throws(AdapterOptionErrors) {
        var reader = OptionReader(setup, specs: Self.optionSpecs)
        let targetValue = reader.text("target_identifier") ?? ""
        target = (reader.text("target_system") ?? BaRS.dosServiceSystem, targetValue)
        let source = (reader.text("source_system") ?? BaRS.dosServiceSystem, reader.text("source_identifier") ?? "")
        let receiverODS = reader.text("receiver_ods")
        useContext = reader.text("use_context") ?? "switchboard"
        let version = reader.text("api_version") ?? "1.0.0"
        accept = "application/fhir+json; version=\(version)"
        for (key, value) in [("target_identifier", targetValue), ("source_identifier", source.1)] where !value.isEmpty {
            if !Self.isIdentifier(value) {
                reader.fail(key, "option '\(key)' is not an Endpoint Catalogue id", hint: "letters, digits, '-' and '.', for example 2000072489")
            }
        }
        for key in ["target_system", "source_system"] {
            if let system = reader.text(key), !(system.hasPrefix("https://") || system.hasPrefix("http://") || system.hasPrefix("urn:")) {
                reader.fail(key, "option '\(key)' is not an identifier system URI", hint: "for example \(BaRS.dosServiceSystem)")
            }
        }
        if let ods = receiverODS, !ODSCode.isValid(ods) {
            reader.fail("receiver_ods", "option 'receiver_ods' is not an ODS code", hint: "3 to 10 capital letters and digits, for example RNU")
        }
        if !Self.isIdentifier(useContext) || useContext.contains("|") {
            reader.fail("use_context", "option 'use_context' must be letters and digits", hint: "as NHS England assigned it, for example a4t2")
        }
        if version.split(separator: ".").count != 3 || !version.allSatisfy({ $0.isNumber || $0 == "." }) {
            reader.fail("api_version", "option 'api_version' must be a version such as 1.0.0")
        }
        settings = MessageSettings(
            eventCode: BaRS.Event.serviceRequestRequest.rawValue, eventSystem: BaRS.eventSystem, sourceEndpoint: "\(source.0)|\(source.1)",
            destinationEndpoint: "\(target.system)|\(target.value)", receiverODS: receiverODS, receiverName: setup.agencyName, target: target,
            codings: setup.vocabulary.codings, bars: BaRSStyle(softwareVersion: Self.softwareVersion))
        try reader.finish()
    }

    static func isIdentifier(_ text: String) -> Bool {
        (1...64).contains(text.count)
            && text.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-.".unicodeScalars.contains($0)) }
    }

    public static let noticesCarryReferral = true

    public func render(_ referral: Referral, context: DeliveryContext) throws -> OutboundRequest {
        try request(FHIRMessage(referral: referral, context: context, settings: settings), referral: referral, reason: .new)
    }

    public func renderUpdate(_ referral: Referral, notice: ReferralNotice, context: DeliveryContext) throws -> OutboundRequest {
        try request(FHIRMessage(referral: referral, context: context, settings: settings, reason: "update"), referral: referral, reason: .update)
    }

    /// A cancellation or withdrawal is the request again with reason `cancel` and the ServiceRequest
    /// `revoked`; BaRS has no other notice, so any other is sent the same way as an update.
    public func renderNotice(_ notice: ReferralNotice, referral: Referral, context: DeliveryContext) throws -> OutboundRequest {
        guard ["referral.cancelled", "referral.withdrawn"].contains(notice.type) else {
            return try renderUpdate(referral, notice: notice, context: context)
        }
        return try request(
            FHIRMessage(referral: referral, context: context, settings: settings, reason: "cancel", status: "revoked"), referral: referral,
            reason: .cancel)
    }

    private func request(_ message: FHIRMessage, referral: Referral, reason: BaRS.Reason) throws -> OutboundRequest {
        let context = message.context
        let body = try JSONSerialization.data(withJSONObject: message.bundle(), options: [.sortedKeys, .withoutEscapingSlashes])
        var organisation: [String: Any] = ["resourceType": "Organization"]
        if referral.referrer.organisationType == nil || referral.referrer.organisationType == .ods {
            organisation["identifier"] = [["system": BaRS.odsSystem, "value": referral.referrer.organisation]]
        }
        if let name = referral.referrer.organisationName { organisation["name"] = name }
        let software: [String: Any] = [
            "resourceType": "Device", "identifier": [["system": "urn:switchboard:software", "value": "switchboard"]],
            "deviceName": [["name": "Switchboard", "type": "manufacturer-name"]], "version": [["value": Self.softwareVersion]],
        ]
        let headers: [OutboundRequest.Header] = [
            .init("NHSD-Target-Identifier", try Self.base64(["value": target.value, "system": target.system])),
            .init("X-Request-Id", context.deliveryId), .init("X-Correlation-Id", context.referralId),
            .init("NHSD-End-User-Organisation", try Self.base64(organisation)),
            .init("NHSD-Requesting-Software", try Self.base64(software)),
            .init("use-context", "\(useContext)|referral|\(BaRS.Event.serviceRequestRequest.rawValue)|\(reason.rawValue)"),
            .init("Accept", accept),
        ]
        return OutboundRequest(headers: headers, body: Array(body), contentType: "application/fhir+json")
    }

    /// Base64 of a JSON object, as BaRS headers carry FHIR resources and identifiers.
    static func base64(_ object: [String: Any]) throws -> String {
        try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]).base64EncodedString()
    }

    public func interpret(_ reply: AgencyReply, context: DeliveryContext) -> DeliveryOutcome {
        let outcome = OperationOutcome.codes(in: reply.body)
        if (200..<300).contains(reply.status) {
            // A response message that is not `ok` is the receiver refusing in a 200.
            if let code = Self.responseCode(reply.body), code != "ok" {
                return code == "transient-error"
                    ? .retryable(reason: "HTTP \(reply.status): the receiver answered transient-error", retryAfter: nil)
                    : .permanent(reason: "HTTP \(reply.status): the receiver answered fatal-error; the message must be fixed")
            }
            return .delivered(agencyReference: reply.header("Location"))
        }
        guard let outcome else { return HTTPReplyClassifier.classify(reply) }
        let codes = "OperationOutcome: \(outcome.summary)"
        if outcome.errors.contains(.conflict), outcome.types.contains("duplicate") {
            // It already has this message: an earlier attempt arrived.
            return .delivered(agencyReference: nil)
        }
        if let error = outcome.errors.first {
            if error.isTransient {
                return .retryable(reason: "HTTP \(reply.status) \(error.rawValue); \(codes)", retryAfter: HTTPReplyClassifier.retryAfter(reply))
            }
            return .permanent(reason: "HTTP \(reply.status) \(error.rawValue): the receiver refused the message as sent; \(codes)")
        }
        switch HTTPReplyClassifier.classify(reply) {
        case .retryable(let reason, let after): return .retryable(reason: "\(reason); \(codes)", retryAfter: after)
        case .permanent(let reason): return .permanent(reason: "\(reason); \(codes)")
        case let other: return other
        }
    }

    /// `MessageHeader.response.code` of a reply that is a response message.
    static func responseCode(_ body: [UInt8]) -> String? {
        guard let root = try? JSONParser.parse(body) else { return nil }
        let bundle = FHIRBundle(FHIRNode(root, path: "Bundle"))
        guard bundle.root.text("resourceType") == "Bundle", let header = bundle.entries.first?.resource,
            header.text("resourceType") == "MessageHeader"
        else { return nil }
        return header["response"]?.text("code")
    }
}
