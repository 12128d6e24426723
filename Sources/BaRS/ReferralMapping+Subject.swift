import Foundation
import ReferralModel

extension ReferralMapping.Builder {
    mutating func subject() -> [(key: String, value: JSONValue)] {
        var fields: [(key: String, value: JSONValue)] = []
        put("/subject", "\(request.path).subject")
        guard let patient = bundle.resolve(request["subject"]), patient.text("resourceType") == "Patient" else {
            issues.append(
                OutcomeIssue(
                    "required", .badRequest, "ServiceRequest.subject must reference the Patient in this Bundle.", at: "\(request.path).subject"))
            return fields
        }
        put("/subject", patient.path)
        put("/subject/nhsNumber", "\(patient.path).identifier")
        if let nhs = InboundMessage.identifier(patient, system: BaRS.nhsNumberSystem) {
            fields.append(("nhsNumber", .string(nhs.code)))
            put("/subject/nhsNumber", nhs.path)
        }
        let names = patient.all("name")
        let name = names.first { $0.text("use") == "official" } ?? names.first
        put("/subject/givenName", name.map { "\($0.path).given" } ?? "\(patient.path).name")
        put("/subject/familyName", name.map { "\($0.path).family" } ?? "\(patient.path).name")
        if let name {
            let given = name.all("given").compactMap(\.string).joined(separator: " ")
            if !given.isEmpty { fields.append(("givenName", .string(given))) }
            if let family = name.text("family") { fields.append(("familyName", .string(family))) }
        }
        put("/subject/birthDate", "\(patient.path).birthDate")
        if let birthDate = patient.text("birthDate") { fields.append(("birthDate", .string(birthDate))) }
        let addresses = patient.all("address")
        let address = addresses.first { $0.text("use") == "home" } ?? addresses.first
        put("/subject/postcode", address.map { "\($0.path).postalCode" } ?? "\(patient.path).address")
        if let address {
            if let postcode = address.text("postalCode") { fields.append(("postcode", .string(postcode))) }
            let lines = address.all("line").compactMap(\.string) + [address.text("city"), address.text("district")].compactMap { $0 }
            if let text = address.text("text") ?? (lines.isEmpty ? nil : lines.joined(separator: ", ")) {
                fields.append(("address", .string(text)))
                put("/subject/address", address.text("text") != nil ? "\(address.path).text" : "\(address.path).line")
            }
        }
        if let gender = patient.text("gender") {
            fields.append(("gender", .string(gender)))
            put("/subject/gender", "\(patient.path).gender")
        }
        let phones = patient.all("telecom").filter { $0.text("system") == "phone" }
        if let phone = phones.first(where: { $0.text("use") == "mobile" }) ?? phones.first, let number = phone.text("value") {
            fields.append(("phone", .string(Self.phone(number))))
            put("/subject/phone", "\(phone.path).value")
        }
        if let practice = patient.all("generalPractitioner").first {
            let organisation = bundle.resolve(practice)
            let ods =
                organisation.flatMap {
                    InboundMessage.identifier($0, system: BaRS.odsSystem, alternate: "https://fhir.nhs.uk/id/ods-organization-code")
                }
                ?? practice["identifier"].flatMap { identifier in identifier.text("value").map { ($0, "\(identifier.path).value") } }
            if let ods {
                fields.append(("registeredPractice", .string(ods.0)))
                put("/subject/registeredPractice", ods.1)
            }
        }
        if let language = patient.all("communication").first(where: { $0["preferred"]?.bool == true }),
            let words = language["language"].flatMap(Self.words)
        {
            fields.append(("preferredLanguage", .string(words.text)))
            put("/subject/preferredLanguage", words.path)
        }
        if let interpreter = patient.all("extension").first(where: {
            $0.text("url") == "http://hl7.org/fhir/StructureDefinition/patient-interpreterRequired"
        }), let flag = interpreter["valueBoolean"]?.bool {
            fields.append(("interpreterNeeded", .bool(flag)))
            put("/subject/interpreterNeeded", "\(interpreter.path).valueBoolean")
        }
        return fields
    }

    /// The codes the ServiceRequest asks with, and where each is: its code, reasonCode and category,
    /// the activity outcomes of a CarePlan it is based on (NHS Pathways dispositions), and the
    /// Directory of Services id the message is addressed to.
    var requestCodings: [(coding: FHIRCoding, path: String)] {
        var found = (request.all("code") + request.all("reasonCode") + request.all("category")).flatMap(\.codings)
        for basis in request.all("basedOn") {
            guard let plan = bundle.resolve(basis), plan.text("resourceType") == "CarePlan" else { continue }
            for activity in plan.all("activity") { found += activity.all("outcomeCodeableConcept").flatMap(\.codings) }
        }
        for destination in message.header.all("destination") {
            guard let endpoint = destination.text("endpoint"), let bar = endpoint.lastIndex(of: "|") else { continue }
            found.append(
                (FHIRCoding(system: String(endpoint[..<bar]), code: String(endpoint[endpoint.index(after: bar)...])), "\(destination.path).endpoint"))
        }
        return found
    }

    mutating func needsAndUrgency() -> ([String], Urgency?) {
        let codings = requestCodings
        var needs: [String] = []
        for (coding, path) in codings {
            guard let need = concepts.need(for: coding, vocabulary: vocabulary), !needs.contains(need) else { continue }
            put("/needs/\(needs.count)", path)
            needs.append(need)
            summary.append("\(OperationOutcome.token(coding.code) ?? "a code") → need \(need)")
        }
        put("/needs", "\(request.path).code")
        if needs.isEmpty {
            issues.append(
                OutcomeIssue(
                    "code-invalid", .unprocessable,
                    "No code in ServiceRequest.code, reasonCode or category, the CarePlan it is based on, or the destination maps to a need this gateway routes; its administrators map codes to needs under fhir_in.needs in switchboard.yaml.",
                    at: "\(request.path).code"))
        }
        var urgencies: [Urgency] = []
        put("/urgency", "\(request.path).priority")
        if let priority = request.text("priority") {
            if let urgency = FHIRConceptMap.urgency(priority: priority) {
                urgencies.append(urgency)
            } else {
                issues.append(
                    OutcomeIssue("code-invalid", .badRequest, "priority must be routine, urgent, asap or stat.", at: "\(request.path).priority"))
            }
        }
        for (coding, path) in codings {
            guard let urgency = concepts.urgency(for: coding) else { continue }
            if urgencies.allSatisfy({ rank($0) < rank(urgency) }) { put("/urgency", path) }
            urgencies.append(urgency)
            summary.append("\(OperationOutcome.token(coding.code) ?? "a code") → \(urgency.rawValue)")
        }
        let urgency = urgencies.max { rank($0) < rank($1) }
        if urgency == nil, request.text("priority") == nil {
            issues.append(
                OutcomeIssue(
                    "required", .unprocessable,
                    "How urgent the request is cannot be told: give ServiceRequest.priority, or a code its receiver maps under fhir_in.urgency.",
                    at: "\(request.path).priority"))
        }
        return (needs, urgency)
    }

    func rank(_ urgency: Urgency) -> Int { Urgency.allCases.firstIndex(of: urgency) ?? 0 }
}
