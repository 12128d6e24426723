import Foundation
import ReferralModel

/// A receiving agency's `servicerequest-response`: its answer about a referral the gateway sent it.
public struct AgencyAnswer: Sendable, Equatable {
    /// The gateway's referral id, from the ServiceRequest it sent (its `urn:switchboard:referral`
    /// identifier, else its id).
    public var referralId: String
    /// `accepted`, `declined` or `completed`.
    public var answer: String
    public var declineReason: DeclineReason?
    /// The agency's words (ServiceRequest.note), such as the question when it needs more information.
    public var text: String?
    /// The agency's own reference for the case (its first identifier of another system).
    public var reference: String?

    /// What the receiver made of the request, as the BaRS examples show it: its own Encounter (the
    /// message's focus) `cancelled`, or the ServiceRequest `revoked`, declines, with the reason in a
    /// reasonCode (`rejected-reasons-bars` or `dos-rejected-reasons-bars`); the Encounter `finished`,
    /// or the ServiceRequest `completed`, completes; any other Encounter status (planned, arrived,
    /// triaged, in-progress), or an `active` ServiceRequest without one, accepts. A `fatal-error`
    /// response declines.
    public static func read(_ message: InboundMessage) throws(OutcomeIssues) -> AgencyAnswer {
        let request = message.serviceRequest
        var referralId: String?
        var reference: String?
        for identifier in request.all("identifier") {
            guard let value = identifier.text("value") else { continue }
            if identifier.text("system") == BaRS.referralIdSystem { referralId = value } else if reference == nil { reference = value }
        }
        referralId =
            referralId ?? request.text("id") ?? message.serviceRequestURL.map { $0.replacingOccurrences(of: "urn:uuid:", with: "") }
        guard let referralId, Identifier.isWellFormed(referralId) else {
            throw OutcomeIssues([
                OutcomeIssue(
                    "required", .badRequest,
                    "The ServiceRequest must be the one this gateway sent: its identifier of system \(BaRS.referralIdSystem), or its id.",
                    at: "\(request.path).identifier")
            ])
        }
        let focus = message.bundle.resolve(message.header.all("focus").first)
        let encounter = focus?.text("resourceType") == "Encounter" ? focus : nil
        if let encounter, reference == nil {
            reference = encounter.all("identifier").first?.text("value")
        }
        let answer: String
        switch (encounter?.text("status"), request.text("status"), message.header["response"]?.text("code")) {
        case (_, _, "fatal-error"), ("cancelled", _, _), (_, "revoked", _), (_, "entered-in-error", _):
            answer = "declined"
        case ("finished", _, _), (_, "completed", _):
            answer = "completed"
        case (.some, _, _), (nil, "active", _):
            answer = "accepted"
        default:
            throw OutcomeIssues([
                OutcomeIssue(
                    "value", .unprocessable,
                    "ServiceRequest.status must be active (accepted), completed, or revoked (declined), not '\(OperationOutcome.token(request.text("status")) ?? "missing")'.",
                    at: "\(request.path).status")
            ])
        }
        var reason: DeclineReason?
        var words: [String] = []
        if answer == "declined" {
            let concepts =
                (encounter?.all("reasonCode") ?? []) + request.all("reasonCode") + request.all("extension").compactMap { $0["valueCodeableConcept"] }
            reason = concepts.flatMap(\.codings).lazy.compactMap { Self.declineReason($0.coding) }.first ?? .other
            words += concepts.compactMap { $0.text("text") }
        }
        words += request.all("note").compactMap { $0.text("text") }
        let text = words.joined(separator: "\n")
        return AgencyAnswer(referralId: referralId, answer: answer, declineReason: reason, text: text.isEmpty ? nil : text, reference: reference)
    }

    /// A BaRS rejection reason as the gateway's decline reason, which decides what happens next.
    static func declineReason(_ coding: FHIRCoding) -> DeclineReason? {
        switch (coding.system, coding.code) {
        case (BaRS.declineReasonSystem, let code): return DeclineReason(rawValue: code)
        // Requested resource not available within timescale.
        case (BaRS.rejectedReasonSystem, "RRNA"): return .noCapacity
        case (BaRS.rejectedReasonSystem, _): return .other
        case (BaRS.dosRejectedReasonSystem, "22"), (BaRS.dosRejectedReasonSystem, "31"): return .noCapacity
        case (BaRS.dosRejectedReasonSystem, "23"), (BaRS.dosRejectedReasonSystem, "40"): return .notEligible
        case (BaRS.dosRejectedReasonSystem, "26"): return .personDeclined
        case (BaRS.dosRejectedReasonSystem, "42"): return .outOfArea
        case (BaRS.dosRejectedReasonSystem, _): return .other
        default: return nil
        }
    }
}

/// The message Bundle a successful `$process-message` is answered with: a MessageHeader responding
/// `ok` to the message received, and the ServiceRequest as the gateway now holds it, named by the
/// gateway's referral id.
public enum ReplyMessage {
    public static func bundle(
        to message: InboundMessage, referralId: String, status: String, gatewayEndpoint: String, at now: Date
    ) -> [String: Any] {
        let headerId = Identifier.make(now: now)
        let requestId = Identifier.make(now: now)
        var header: [String: Any] = [
            "resourceType": "MessageHeader", "id": headerId, "meta": ["profile": [BaRS.responseHeaderProfile]],
            "eventCoding": ["system": BaRS.eventSystem, "code": message.event.rawValue],
            "source": ["name": "Switchboard", "software": "Switchboard", "endpoint": gatewayEndpoint],
            "response": ["identifier": message.messageId ?? "", "code": "ok"],
            "focus": [["reference": "urn:uuid:\(requestId)"]],
        ]
        if let endpoint = message.header["source"]?.text("endpoint") { header["destination"] = [["endpoint": endpoint]] }
        var identifiers: [[String: Any]] = [["system": BaRS.referralIdSystem, "value": referralId]]
        if let own = message.serviceRequest.all("identifier").first, let value = own.text("value") {
            identifiers.append(["system": own.text("system") ?? "", "value": value])
        }
        let request: [String: Any] = [
            "resourceType": "ServiceRequest", "id": requestId, "identifier": identifiers, "status": status, "intent": "plan",
            "subject": ["display": "as in the message received"],
        ]
        return [
            "resourceType": "Bundle", "id": Identifier.make(now: now), "meta": ["profile": [BaRS.bundleProfile]], "type": "message",
            "timestamp": Timestamp.string(now),
            "entry": [
                ["fullUrl": "urn:uuid:\(headerId)", "resource": header], ["fullUrl": "urn:uuid:\(requestId)", "resource": request],
            ],
        ]
    }
}
