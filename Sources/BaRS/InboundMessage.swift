import Foundation
import ReferralModel

/// A BaRS message as it arrives at `$process-message`: a FHIR `Bundle` of type `message` whose first
/// entry is the `MessageHeader`, its event and reason read, and its focus, the `ServiceRequest`.
/// Parsing reports every structural problem at once, each with its FHIRPath expression.
public struct InboundMessage: Sendable {
    public let bundle: FHIRBundle
    public let header: FHIRNode
    public let event: BaRS.Event
    public let reason: BaRS.Reason
    /// The ServiceRequest the message is about.
    public let serviceRequest: FHIRNode
    /// The ServiceRequest's entry `fullUrl`, when it has one.
    public let serviceRequestURL: String?

    /// The message's own id (MessageHeader.id, else its entry's fullUrl, else Bundle.id), for replies.
    public var messageId: String? {
        header.text("id") ?? bundle.entries.first?.fullUrl.map { $0.replacingOccurrences(of: "urn:uuid:", with: "") }
            ?? bundle.root.text("id")
    }

    /// Reads a message. Not JSON, not a Bundle, not a message, or no MessageHeader: 400. An event or
    /// reason the gateway does not handle: 422.
    public static func parse(_ bytes: [UInt8]) throws(OutcomeIssues) -> InboundMessage {
        let root: JSONValue
        do {
            root = try JSONParser.parse(bytes)
        } catch {
            throw OutcomeIssues([OutcomeIssue("structure", .badRequest, error.description)])
        }
        let node = FHIRNode(root, path: "Bundle")
        guard case .object = root, node.text("resourceType") == "Bundle" else {
            throw OutcomeIssues([
                OutcomeIssue(
                    "structure", .badRequest,
                    "The body must be a FHIR Bundle of type message; this is \(node.text("resourceType") ?? root.kindName).",
                    at: "Bundle.resourceType")
            ])
        }
        guard node.text("type") == "message" else {
            throw OutcomeIssues([
                OutcomeIssue(
                    "structure", .badRequest,
                    "Bundle.type must be 'message' for $process-message; this Bundle is '\(OperationOutcome.token(node.text("type")) ?? "missing")'.",
                    at: "Bundle.type")
            ])
        }
        let bundle = FHIRBundle(node)
        guard let header = bundle.entries.first?.resource, header.text("resourceType") == "MessageHeader" else {
            throw OutcomeIssues([
                OutcomeIssue(
                    "structure", .badRequest, "The first entry of a message Bundle must be its MessageHeader.", at: "Bundle.entry[0].resource")
            ])
        }
        var issues: [OutcomeIssue] = []
        let eventCode = header["eventCoding"]?.text("code")
        let event = eventCode.flatMap(BaRS.Event.init(rawValue:))
        if eventCode == nil {
            issues.append(OutcomeIssue("required", .badRequest, "MessageHeader.eventCoding must name the event.", at: "\(header.path).eventCoding"))
        } else if event == nil {
            issues.append(
                OutcomeIssue(
                    "not-supported", .unprocessable,
                    "This receiver takes servicerequest-request and servicerequest-response messages, not '\(OperationOutcome.token(eventCode) ?? "this event")'.",
                    at: "\(header.path).eventCoding.code"))
        }
        let reasonCodes = header["reason"]?.codings ?? []
        let reasonCode = reasonCodes.first?.coding.code
        let reason = reasonCode.map(BaRS.Reason.init(rawValue:)) ?? .new
        if reasonCode != nil, reason == nil {
            issues.append(
                OutcomeIssue(
                    "not-supported", .unprocessable, "MessageHeader.reason must be new, update or cancel.", at: reasonCodes.first?.path))
        }
        let focus = header.all("focus").first
        // A response may focus on what the receiver made of the request (the specification's example
        // response focuses on its Encounter): the ServiceRequest that is based on, else the
        // Bundle's only ServiceRequest.
        let requests = bundle.resources("ServiceRequest")
        var request = bundle.resolve(focus)
        if let found = request, found.text("resourceType") != "ServiceRequest", event == .serviceRequestResponse {
            request =
                found.all("basedOn").lazy.compactMap { bundle.resolve($0) }.first { $0.text("resourceType") == "ServiceRequest" }
                ?? (requests.count == 1 ? requests[0] : nil)
        }
        if event == nil {
            // A message of another kind (a booking) has another focus: its event is the problem.
        } else if focus == nil {
            issues.append(OutcomeIssue("required", .badRequest, "MessageHeader.focus must name the ServiceRequest.", at: "\(header.path).focus"))
        } else if request?.text("resourceType") != "ServiceRequest" {
            issues.append(
                OutcomeIssue(
                    "invalid", .badRequest, "MessageHeader.focus must reference a ServiceRequest entry in this Bundle.",
                    at: focus.map { "\($0.path).reference" }))
        }
        guard issues.isEmpty, let event, let reason, let request else { throw OutcomeIssues(issues) }
        let url = bundle.entries.first { $0.resource.path == request.path }?.fullUrl
        return InboundMessage(bundle: bundle, header: header, event: event, reason: reason, serviceRequest: request, serviceRequestURL: url)
    }

    /// The sending organisation's ODS code (MessageHeader.sender, an Organization, or a
    /// PractitionerRole's organization), with the path it was read at.
    public var senderODS: (code: String, path: String)? {
        var sender = bundle.resolve(header["sender"])
        if sender?.text("resourceType") == "PractitionerRole" { sender = bundle.resolve(sender?["organization"]) }
        guard let organisation = sender else {
            return header["sender"]?["identifier"].flatMap { identifier in identifier.text("value").map { ($0, "\(identifier.path).value") } }
        }
        return Self.identifier(organisation, system: BaRS.odsSystem, alternate: "https://fhir.nhs.uk/id/ods-organization-code")
    }

    /// An identifier of `system` on a resource, with the path of its value.
    static func identifier(_ resource: FHIRNode, system: String, alternate: String? = nil) -> (code: String, path: String)? {
        for identifier in resource.all("identifier") {
            let named = identifier.text("system")
            guard named == system || (alternate != nil && named == alternate), let value = identifier.text("value") else { continue }
            return (value, "\(identifier.path).value")
        }
        return nil
    }

    /// The key that names the sender's ServiceRequest across its messages (new, update, cancel):
    /// its first identifier, else its id, else its entry's full URL.
    public var serviceRequestKey: String {
        if let identifier = serviceRequest.all("identifier").first, let value = identifier.text("value") {
            return "\(identifier.text("system") ?? "")|\(value)"
        }
        return serviceRequest.text("id") ?? serviceRequestURL.map { $0.replacingOccurrences(of: "urn:uuid:", with: "") } ?? ""
    }
}
