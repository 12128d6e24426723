import AdapterKit
import Foundation
import ReferralModel

/// Sends the referral as a FHIR R4 message, following the NHS Booking and Referral Standard's
/// pattern: a `Bundle` of type `message` whose `MessageHeader` points at a `ServiceRequest` for the
/// `Patient`, requested by the referrer (`PractitionerRole` of a `Practitioner` at an
/// `Organization`). NHS numbers and ODS codes use the NHS identifier systems. `X-Request-ID` is the
/// delivery id and `X-Correlation-ID` the referral id, both stable across retries.
///
/// A reply's `OperationOutcome` is read into the failure reason: its coded parts (severity, code,
/// coding), never its free text, which may repeat the person's details.
public struct FHIRR4Adapter: AgencyAdapter {
    public static let name = "fhir-r4"
    public static let summary = "A FHIR R4 message Bundle (MessageHeader, ServiceRequest, Patient, Practitioner, Organization), BaRS style."
    public static let optionSpecs: [OptionSpec] = [
        OptionSpec("event_code", .text, summary: "MessageHeader.eventCoding code (default servicerequest-request)."),
        OptionSpec("event_system", .text, summary: "Its code system (default https://fhir.nhs.uk/CodeSystem/message-events-bars)."),
        OptionSpec(
            "source_endpoint", .text, required: true,
            summary: "MessageHeader.source.endpoint: this gateway's own FHIR endpoint URL, where the agency sends replies."),
        OptionSpec("destination_endpoint", .text, summary: "MessageHeader.destination.endpoint (default the agency's endpoint)."),
        OptionSpec("receiver_ods", .text, summary: "The receiving organisation's ODS code, for MessageHeader.destination.receiver."),
    ]

    public static let nhsNumberSystem = "https://fhir.nhs.uk/Id/nhs-number"
    public static let odsSystem = "https://fhir.nhs.uk/Id/ods-organization-code"

    public let mappedFields = Set(ReferralField.allCases)
    let eventCode: String
    let eventSystem: String
    let sourceEndpoint: String
    let destinationEndpoint: String
    let receiverODS: String?

    public init(setup: AdapterSetup) throws(AdapterOptionErrors) {
        var reader = OptionReader(setup, specs: Self.optionSpecs)
        eventCode = reader.text("event_code") ?? "servicerequest-request"
        eventSystem = reader.text("event_system") ?? "https://fhir.nhs.uk/CodeSystem/message-events-bars"
        sourceEndpoint = reader.text("source_endpoint") ?? ""
        destinationEndpoint =
            reader.text("destination_endpoint") ?? (setup.endpoint.isEmpty ? "urn:switchboard:agency:\(setup.agencyId)" : setup.endpoint)
        receiverODS = reader.text("receiver_ods")
        for (key, value) in [("source_endpoint", sourceEndpoint), ("destination_endpoint", destinationEndpoint)]
        where reader.text(key) != nil && !(value.hasPrefix("https://") || value.hasPrefix("http://")) {
            reader.fail(
                key, "option '\(key)' must be an http or https URL",
                hint: "FHIR's url type needs one, for example https://switchboard.example.org/fhir")
        }
        if let ods = receiverODS, !ODSCode.isValid(ods) {
            reader.fail("receiver_ods", "option 'receiver_ods' is not an ODS code", hint: "3 to 10 capital letters and digits, for example RNU")
        }
        try reader.finish()
    }

    public func render(_ referral: Referral, context: DeliveryContext) throws -> OutboundRequest {
        let ids = ResourceIds(deliveryId: context.deliveryId)
        let withheld = context.withheld
        let instant = Timestamp.string(context.receivedAt)

        var patient: [String: Any] = [
            "resourceType": "Patient", "id": ids.patient,
            "name": [["use": "official", "family": referral.subject.familyName, "given": [referral.subject.givenName]]],
            "birthDate": referral.subject.birthDate,
        ]
        if let nhsNumber = referral.subject.nhsNumber {
            patient["identifier"] = [["system": Self.nhsNumberSystem, "value": nhsNumber]]
        }
        var address: [String: Any] = ["postalCode": referral.subject.postcode]
        if let text = referral.subject.address { address["text"] = text }
        patient["address"] = [address]
        if let phone = referral.subject.phone { patient["telecom"] = [["system": "phone", "value": phone]] }
        if let language = referral.subject.preferredLanguage {
            patient["communication"] = [["language": ["text": language], "preferred": true]]
        }
        if let interpreter = referral.subject.interpreterNeeded {
            patient["extension"] = [
                ["url": "http://hl7.org/fhir/StructureDefinition/patient-interpreterRequired", "valueBoolean": interpreter]
            ]
        }

        let organisation: [String: Any] = [
            "resourceType": "Organization", "id": ids.organisation,
            "identifier": Self.organisationSystem(referral.referrer.organisationType).map {
                [["system": $0, "value": referral.referrer.organisation]]
            } ?? [],
        ]
        var practitioner: [String: Any] = ["resourceType": "Practitioner", "id": ids.practitioner]
        if !withheld.contains(.referrerName) { practitioner["name"] = [["text": referral.referrer.name]] }
        var contacts: [[String: Any]] = []
        if let phone = referral.referrer.phone { contacts.append(["system": "phone", "value": phone, "use": "work"]) }
        if let email = referral.referrer.email { contacts.append(["system": "email", "value": email, "use": "work"]) }
        var role: [String: Any] = [
            "resourceType": "PractitionerRole", "id": ids.practitionerRole,
            "practitioner": ["reference": "urn:uuid:\(ids.practitioner)"],
            "organization": ["reference": "urn:uuid:\(ids.organisation)"],
        ]
        if let title = referral.referrer.role { role["code"] = [["text": title]] }
        if !contacts.isEmpty { role["telecom"] = contacts }

        var categories: [[String: Any]] = [
            ["coding": [["system": "http://snomed.info/sct", "code": "3457005", "display": "Patient referral"]]]
        ]
        if referral.safeguarding == true { categories.append(["text": "Safeguarding concern"]) }
        var identifiers: [[String: Any]] = [["system": "urn:switchboard:referral", "value": context.referralId]]
        if let reference = referral.externalReference {
            identifiers.append(["system": "urn:switchboard:referrer-reference:\(referral.referrer.organisation)", "value": reference])
        }
        var serviceRequest: [String: Any] = [
            "resourceType": "ServiceRequest", "id": ids.serviceRequest,
            "identifier": identifiers,
            "status": "active", "intent": "order",
            "category": categories,
            "priority": Self.priority(referral.urgency),
            "code": [
                "coding": referral.needs.map { ["system": "urn:switchboard:need", "code": $0] },
                "text": referral.needs.joined(separator: ", "),
            ],
            "subject": ["reference": "urn:uuid:\(ids.patient)"],
            "authoredOn": instant,
            "requester": ["reference": "urn:uuid:\(ids.practitionerRole)"],
        ]
        if !withheld.contains(.reason) { serviceRequest["reasonCode"] = [["text": referral.reason]] }
        var notes = ["Consent to share: \(referral.consent.status.rawValue)."]
        if let safeguarding = referral.safeguarding { notes.append("Safeguarding concern: \(safeguarding ? "yes" : "no").") }
        serviceRequest["note"] = [["text": notes.joined(separator: " ")]]

        var destination: [String: Any] = ["endpoint": destinationEndpoint]
        if let receiverODS {
            destination["receiver"] = ["identifier": ["system": Self.odsSystem, "value": receiverODS]]
        }
        let header: [String: Any] = [
            "resourceType": "MessageHeader", "id": ids.messageHeader,
            "eventCoding": ["system": eventSystem, "code": eventCode],
            "destination": [destination],
            "source": ["name": "Switchboard", "endpoint": sourceEndpoint],
            "focus": [["reference": "urn:uuid:\(ids.serviceRequest)"]],
        ]
        let resources = [header, serviceRequest, patient, role, practitioner, organisation]
        let bundle: [String: Any] = [
            "resourceType": "Bundle", "id": context.deliveryId,
            "identifier": ["system": "urn:ietf:rfc:3986", "value": "urn:uuid:\(context.deliveryId)"],
            "type": "message", "timestamp": instant,
            "entry": resources.map { ["fullUrl": "urn:uuid:\($0["id"] as! String)", "resource": $0] },
        ]
        let body = try JSONSerialization.data(withJSONObject: bundle, options: [.sortedKeys, .withoutEscapingSlashes])
        return OutboundRequest(
            headers: [
                .init("X-Request-ID", context.deliveryId), .init("X-Correlation-ID", context.referralId), .init("Accept", "application/fhir+json"),
            ],
            body: Array(body), contentType: "application/fhir+json")
    }

    public func interpret(_ reply: AgencyReply, context: DeliveryContext) -> DeliveryOutcome {
        let object = (try? JSONSerialization.jsonObject(with: Data(reply.body))) as? [String: Any]
        if (200..<300).contains(reply.status) {
            let reference = reply.header("Location") ?? (object?["id"] as? String)
            return .delivered(agencyReference: reference)
        }
        let base = HTTPReplyClassifier.classify(reply)
        guard object?["resourceType"] as? String == "OperationOutcome", let issues = object?["issue"] as? [[String: Any]] else { return base }
        let summary = issues.prefix(3).map { issue -> String in
            var parts = [issue["severity"] as? String ?? "error", issue["code"] as? String ?? "unknown"]
            let codings = ((issue["details"] as? [String: Any])?["coding"] as? [[String: Any]]) ?? []
            parts += codings.compactMap { coding in
                (coding["code"] as? String).map { code in (coding["display"] as? String).map { "\(code) (\($0))" } ?? code }
            }
            return parts.joined(separator: " ")
        }.joined(separator: "; ")
        switch base {
        case .retryable(let reason, let after): return .retryable(reason: "\(reason); OperationOutcome: \(summary)", retryAfter: after)
        case .permanent(let reason): return .permanent(reason: "\(reason); OperationOutcome: \(summary)")
        case .delivered: return base
        }
    }

    /// The identifier system for a referring organisation's code; nil for a self-referral, which has none.
    static func organisationSystem(_ type: OrganisationType?) -> String? {
        switch type ?? .ods {
        case .ods: odsSystem
        case .policeForce, .localAuthority: "http://statistics.data.gov.uk/id/statistical-geography"
        case .charityNumber: "https://register-of-charities.charitycommission.gov.uk"
        case .selfReferral: nil
        }
    }

    static func priority(_ urgency: Urgency) -> String {
        switch urgency {
        case .routine: "routine"
        case .urgent: "urgent"
        case .emergency: "stat"
        }
    }

    /// Resource ids for one delivery: the same on every retry, distinct within the bundle, and
    /// valid UUIDs for `urn:uuid:` full URLs (the delivery id with its last byte varied).
    struct ResourceIds {
        let messageHeader, serviceRequest, patient, practitioner, practitionerRole, organisation: String

        init(deliveryId: String) {
            let stem = String(deliveryId.dropLast(2))
            func variant(_ n: UInt8) -> String {
                let last = UInt8(deliveryId.suffix(2), radix: 16) ?? 0
                return stem + Hex.encode([last &+ n])
            }
            messageHeader = variant(1)
            serviceRequest = variant(2)
            patient = variant(3)
            practitioner = variant(4)
            practitionerRole = variant(5)
            organisation = variant(6)
        }
    }
}
