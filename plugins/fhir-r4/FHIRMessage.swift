import AdapterKit
import BaRS
import Foundation
import ReferralModel

/// One referral as a BaRS-style FHIR R4 message Bundle, each resource claiming its UK Core profile.
/// Built from the referral the agency may see: what its agreement withholds is already gone, and
/// what the referrer did not say is left out, never filled with a default.
package struct FHIRMessage {
    static let ukCore = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-"
    static let messageReasonSystem = "https://fhir.nhs.uk/CodeSystem/message-reason-bars"
    static let messageDefinition = "https://fhir.nhs.uk/MessageDefinition/bars-message-servicerequest-request-referral"

    let referral: Referral
    package let context: DeliveryContext
    let settings: MessageSettings
    let ids: ResourceIds
    /// `new` for a referral, `update` for an amendment, `cancel` when it is taken back.
    let reason: String
    /// The ServiceRequest's status: `active`, or `revoked` when it is taken back.
    let status: String

    package init(
        referral: Referral, context: DeliveryContext, settings: MessageSettings, reason: String = "new", status: String = "active"
    ) {
        self.referral = referral
        self.context = context
        self.settings = settings
        self.reason = reason
        self.status = status
        ids = ResourceIds(deliveryId: context.deliveryId)
    }

    /// The id the ServiceRequest is sent with: under BaRS the referral's own id, the same in every
    /// message about it, so a receiver's response names the referral; otherwise one per delivery.
    var serviceRequestId: String { settings.bars == nil ? ids.serviceRequest : context.referralId }

    package func bundle() -> [String: Any] {
        var resources = [
            messageHeader(), serviceRequest(), patient(), practitionerRole(), practitioner(), referringOrganisation(), receivingOrganisation(),
            consent(),
        ]
        if let flag = safeguardingFlag() { resources.append(flag) }
        let meta: [String: Any] = settings.bars == nil ? Self.profile("Bundle") : ["profile": [BaRS.bundleProfile]]
        return [
            "resourceType": "Bundle", "id": context.deliveryId, "meta": meta,
            "identifier": ["system": "urn:ietf:rfc:3986", "value": "urn:uuid:\(context.deliveryId)"],
            "type": "message", "timestamp": Timestamp.string(context.receivedAt),
            "entry": resources.map { ["fullUrl": "urn:uuid:\($0["id"] as! String)", "resource": $0] },
        ]
    }

    static func profile(_ resource: String) -> [String: Any] { ["profile": [ukCore + resource]] }

    static func reference(_ id: String) -> [String: Any] { ["reference": "urn:uuid:\(id)"] }

    func messageHeader() -> [String: Any] {
        var header: [String: Any] = [
            "resourceType": "MessageHeader", "id": ids.messageHeader, "meta": Self.profile("MessageHeader"),
            "eventCoding": ["system": settings.eventSystem, "code": settings.eventCode],
            "destination": [["endpoint": settings.destinationEndpoint, "receiver": Self.reference(ids.receivingOrganisation)]],
            "sender": Self.reference(ids.referringOrganisation),
            "source": ["name": "Switchboard", "endpoint": settings.sourceEndpoint],
            "reason": ["coding": [["system": Self.messageReasonSystem, "code": reason]]],
            "focus": [Self.reference(serviceRequestId)],
            "definition": Self.messageDefinition,
        ]
        if let bars = settings.bars {
            header["meta"] = ["profile": [BaRS.requestHeaderProfile]]
            header["source"] = [
                "name": "Switchboard", "software": "Switchboard", "version": bars.softwareVersion, "endpoint": settings.sourceEndpoint,
            ]
            header["definition"] = BaRS.requestDefinition
        }
        return header
    }

    func serviceRequest() -> [String: Any] {
        var identifiers: [[String: Any]] = [["system": "urn:switchboard:referral", "value": context.referralId]]
        if let reference = referral.externalReference {
            identifiers.append(["system": "urn:switchboard:referrer-reference:\(referral.referrer.organisation)", "value": reference])
        }
        let codings = referral.needs.compactMap { settings.codings[$0] }.map {
            ["system": $0.system, "code": $0.code, "display": $0.display]
        }
        var code: [String: Any] = ["text": referral.needs.joined(separator: ", ")]
        if !codings.isEmpty { code["coding"] = codings }
        var request: [String: Any] = [
            "resourceType": "ServiceRequest", "id": serviceRequestId, "meta": Self.profile("ServiceRequest"),
            "identifier": identifiers, "status": status, "intent": "order",
            "category": [["coding": [["system": SNOMED.system, "code": "3457005", "display": "Patient referral"]]]],
            "priority": FHIRR4Adapter.priority(referral.urgency),
            "code": code,
            "subject": Self.reference(ids.patient),
            "authoredOn": Timestamp.string(context.receivedAt),
            "requester": Self.reference(ids.practitionerRole),
            "performer": [Self.reference(ids.receivingOrganisation)],
        ]
        var supporting = [Self.reference(ids.consent)]
        if referral.safeguarding == true { supporting.append(Self.reference(ids.flag)) }
        request["supportingInfo"] = supporting
        if !context.withheld.contains(.reason) { request["reasonCode"] = [["text": referral.reason]] }
        // BaRS: the time by which the receiving service is to respond.
        if let respondBy = referral.respondBy { request["occurrencePeriod"] = ["end": respondBy] }
        var notes: [String] = []
        if referral.safeguarding == false { notes.append("Safeguarding concern: none raised by the referrer.") }
        if let discharge = referral.expectedDischargeDate { notes.append("Expected discharge date: \(discharge).") }
        if !notes.isEmpty { request["note"] = [["text": notes.joined(separator: " ")]] }
        if settings.bars != nil {
            // BaRS fixes the intent and names the kind of request in its own category, beside the SNOMED CT one.
            request["meta"] = ["profile": [BaRS.serviceRequestProfile]]
            request["intent"] = "plan"
            request["category"] = [
                [
                    "coding": [
                        ["system": BaRS.categorySystem, "code": "referral", "display": "Transfer of Care"],
                        ["system": SNOMED.system, "code": "3457005", "display": "Patient referral"],
                    ]
                ]
            ]
        }
        return request
    }

    func patient() -> [String: Any] {
        let subject = referral.subject
        var patient: [String: Any] = [
            "resourceType": "Patient", "id": ids.patient, "meta": Self.profile("Patient"),
            "name": [["use": "official", "family": subject.familyName, "given": [subject.givenName]]],
            "birthDate": subject.birthDate,
        ]
        if let nhsNumber = subject.nhsNumber {
            patient["identifier"] = [["system": FHIRR4Adapter.nhsNumberSystem, "value": nhsNumber]]
        }
        var address: [String: Any] = ["postalCode": subject.postcode]
        if let text = subject.address { address["text"] = text }
        patient["address"] = [address]
        if let phone = subject.phone { patient["telecom"] = [["system": "phone", "value": phone]] }
        if let gender = subject.gender { patient["gender"] = gender.rawValue }
        if let practice = subject.registeredPractice {
            patient["generalPractitioner"] = [["identifier": ["system": FHIRR4Adapter.odsSystem, "value": practice]]]
        }
        if let language = subject.preferredLanguage {
            patient["communication"] = [["language": ["text": language], "preferred": true]]
        }
        if let interpreter = subject.interpreterNeeded {
            patient["extension"] = [
                ["url": "http://hl7.org/fhir/StructureDefinition/patient-interpreterRequired", "valueBoolean": interpreter]
            ]
        }
        return patient
    }

    func practitioner() -> [String: Any] {
        var practitioner: [String: Any] = ["resourceType": "Practitioner", "id": ids.practitioner, "meta": Self.profile("Practitioner")]
        if !context.withheld.contains(.referrerName) { practitioner["name"] = [["text": referral.referrer.name]] }
        return practitioner
    }

    func practitionerRole() -> [String: Any] {
        var contacts: [[String: Any]] = []
        if let phone = referral.referrer.phone { contacts.append(["system": "phone", "value": phone, "use": "work"]) }
        if let email = referral.referrer.email { contacts.append(["system": "email", "value": email, "use": "work"]) }
        var role: [String: Any] = [
            "resourceType": "PractitionerRole", "id": ids.practitionerRole, "meta": Self.profile("PractitionerRole"),
            "practitioner": Self.reference(ids.practitioner), "organization": Self.reference(ids.referringOrganisation),
        ]
        if let title = referral.referrer.role { role["code"] = [["text": title]] }
        if !contacts.isEmpty { role["telecom"] = contacts }
        return role
    }

    func referringOrganisation() -> [String: Any] {
        var organisation: [String: Any] = [
            "resourceType": "Organization", "id": ids.referringOrganisation, "meta": Self.profile("Organization"),
        ]
        if let system = Self.organisationSystem(referral.referrer.organisationType) {
            organisation["identifier"] = [["system": system, "value": referral.referrer.organisation]]
        }
        if referral.referrer.organisationType == .selfReferral {
            organisation["name"] = "Self-referral"
        } else if let name = referral.referrer.organisationName {
            organisation["name"] = name
        }
        return organisation
    }

    func receivingOrganisation() -> [String: Any] {
        var organisation: [String: Any] = [
            "resourceType": "Organization", "id": ids.receivingOrganisation, "meta": Self.profile("Organization"),
            "name": settings.receiverName,
        ]
        if let ods = settings.receiverODS { organisation["identifier"] = [["system": FHIRR4Adapter.odsSystem, "value": ods]] }
        return organisation
    }

    /// The basis on which the person's information is shared. Consent given is a permit, refused a
    /// deny (shared anyway on the lawful basis recorded, by the decision-maker named); the rule
    /// relied on is `policyRule`, in words, since no code system states these bases.
    func consent() -> [String: Any] {
        let given = referral.consent
        var consent: [String: Any] = [
            "resourceType": "Consent", "id": ids.consent, "meta": Self.profile("Consent"),
            "status": "active",
            "scope": ["coding": [["system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"]]],
            "category": [["coding": [["system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"]]]],
            "patient": Self.reference(ids.patient),
            "dateTime": given.decidedAt ?? Timestamp.string(context.receivedAt),
            "policyRule": ["text": Self.basis(given)],
        ]
        if let maker = given.decisionMaker { consent["performer"] = [["display": maker]] }
        switch given.status {
        case .given: consent["provision"] = ["type": "permit"]
        case .refused: consent["provision"] = ["type": "deny"]
        case .notRequired, .bestInterests: break
        }
        return consent
    }

    static func basis(_ consent: Referral.Consent) -> String {
        var words: String
        switch consent.status {
        case .given: words = "The person consented to this referral being shared."
        case .refused: words = "The person refused consent; shared because someone is at risk of harm."
        case .notRequired: words = "Consent was not sought: not required for this referral."
        case .bestInterests: words = "The person lacks capacity to consent; shared in their best interests (Mental Capacity Act 2005)."
        }
        if let basis = consent.lawfulBasis { words += " Lawful basis: \(basis.rawValue)." }
        if let assessor = consent.capacityAssessedBy { words += " Capacity assessed by \(assessor)." }
        return words
    }

    func safeguardingFlag() -> [String: Any]? {
        guard referral.safeguarding == true else { return nil }
        if settings.bars != nil {
            // BaRS's own safeguarding category and its code for a concern not specified further.
            return [
                "resourceType": "Flag", "id": ids.flag, "meta": Self.profile("Flag"), "status": "active",
                "category": [["coding": [["system": BaRS.flagCategorySystem, "code": "SG", "display": "Safeguarding Concern"]]]],
                "code": [
                    "coding": [
                        [
                            "system": "https://fhir.nhs.uk/CodeSystem/safeguarding-codes-bars", "code": "U",
                            "display": "Unspecified Safeguarding Concern Identified",
                        ]
                    ],
                    "text": "Safeguarding concern raised by the referrer",
                ],
                "subject": Self.reference(ids.patient),
            ]
        }
        return [
            "resourceType": "Flag", "id": ids.flag, "meta": Self.profile("Flag"),
            "status": "active",
            "category": [["coding": [["system": "http://terminology.hl7.org/CodeSystem/flag-category", "code": "safety", "display": "Safety"]]]],
            "code": ["text": "Safeguarding concern raised by the referrer"],
            "subject": Self.reference(ids.patient),
        ]
    }

    /// The identifier system for a referring organisation's code; nil for a self-referral, which has none.
    static func organisationSystem(_ type: OrganisationType?) -> String? {
        switch type ?? .ods {
        case .ods: FHIRR4Adapter.odsSystem
        case .policeForce, .localAuthority: "http://statistics.data.gov.uk/id/statistical-geography"
        case .charityNumber: "https://register-of-charities.charitycommission.gov.uk"
        case .selfReferral: nil
        }
    }

    /// Resource ids for one delivery: the same on every retry, distinct within the bundle, and
    /// valid UUIDs for `urn:uuid:` full URLs (the delivery id with its last byte varied).
    package struct ResourceIds {
        let messageHeader, serviceRequest, patient, practitioner, practitionerRole, referringOrganisation: String
        let receivingOrganisation, consent, flag: String

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
            referringOrganisation = variant(6)
            receivingOrganisation = variant(7)
            consent = variant(8)
            flag = variant(9)
        }
    }
}
