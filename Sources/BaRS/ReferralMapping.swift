import Foundation
import ReferralModel

/// A BaRS `servicerequest-request` as a canonical referral document (referral v1), with where in the
/// message each field came from, so the referral decoder validates it exactly as it validates the
/// JSON API's referrals and every problem it finds is reported at its FHIR path.
///
/// Patient → subject (NHS number, name, birth date, address and postcode, gender, phone, GP
/// practice, language); ServiceRequest codes (`code`, `reasonCode`, `category`, the CarePlan it is
/// `basedOn`'s activity outcomes, and the destination's Directory of Services id) → needs through the
/// concept map; `priority` and mapped codes → urgency (the most urgent wins); note, reason texts and
/// the codes' displays → reason; a future `occurrence` → respondBy; Consent → consent; a `Flag` the
/// concept map calls safeguarding → safeguarding; the sender Organization's ODS code, the requesting
/// practitioner and the source's contact → referrer.
public struct ReferralMapping: Sendable {
    /// The canonical referral, ready for the referral decoder.
    public var document: JSONValue
    /// For each referral field's JSON Pointer, the FHIR path it was (or would have been) read from.
    public var provenance: [String: String]
    /// What was mapped, in words with codes only, for the audit trail.
    public var summary: String

    /// The FHIR path for a decoder's pointer: the field's own, else its nearest parent's, else the ServiceRequest's.
    public func expression(for pointer: String, fallback: String) -> String {
        var candidate = pointer
        while !candidate.isEmpty {
            if let path = provenance[candidate] { return path }
            candidate = String(candidate[..<(candidate.lastIndex(of: "/") ?? candidate.startIndex)])
        }
        return fallback
    }

    /// Maps a request message. What cannot be mapped (no need, no urgency, no consent, no sender
    /// ODS code) is a 422 naming where it was looked for, every one at once.
    public static func map(
        _ message: InboundMessage, concepts: FHIRConceptMap, vocabulary: NeedsVocabulary, now: Date
    ) throws(OutcomeIssues) -> ReferralMapping {
        var builder = Builder(message: message, concepts: concepts, vocabulary: vocabulary, now: now)
        builder.build()
        guard builder.issues.isEmpty else { throw OutcomeIssues(builder.issues) }
        return ReferralMapping(
            document: .object(JSONObject(builder.members)), provenance: builder.provenance, summary: builder.summary.joined(separator: "; "))
    }

    struct Builder {
        let message: InboundMessage
        let concepts: FHIRConceptMap
        let vocabulary: NeedsVocabulary
        let now: Date
        var members: [(key: String, value: JSONValue)] = []
        var provenance: [String: String] = [:]
        var issues: [OutcomeIssue] = []
        var summary: [String] = []

        var request: FHIRNode { message.serviceRequest }
        var bundle: FHIRBundle { message.bundle }

        mutating func build() {
            members.append(("referrer", .object(JSONObject(referrer()))))
            members.append(("subject", .object(JSONObject(subject()))))
            let (needs, urgency) = needsAndUrgency()
            members.append(("needs", .array(needs.map { .string($0) })))
            if let urgency { members.append(("urgency", .string(urgency.rawValue))) }
            members.append(("reason", .string(reason())))
            if let consent = consent() { members.append(("consent", .object(JSONObject(consent)))) }
            if let safeguarding = safeguarding() { members.append(("safeguarding", .bool(safeguarding))) }
            if let reference = externalReference() { members.append(("externalReference", .string(reference))) }
            if let respondBy = respondBy() { members.append(("respondBy", .string(respondBy))) }
        }

        mutating func put(_ pointer: String, _ path: String) { provenance[pointer] = path }

        mutating func referrer() -> [(key: String, value: JSONValue)] {
            var fields: [(key: String, value: JSONValue)] = []
            put("/referrer", "\(message.header.path).sender")
            put("/referrer/organisation", "\(message.header.path).sender")
            if let ods = message.senderODS {
                fields.append(("organisation", .string(ods.code)))
                put("/referrer/organisation", ods.path)
            } else {
                issues.append(
                    OutcomeIssue(
                        "required", .unprocessable,
                        "The sender must be an Organization with an ODS code (system \(BaRS.odsSystem)): the referring organisation.",
                        at: "\(message.header.path).sender"))
            }
            let sender = bundle.resolve(message.header["sender"])
            var requester = bundle.resolve(request["requester"])
            var role: FHIRNode?
            if requester?.text("resourceType") == "PractitionerRole" {
                role = requester
                requester = bundle.resolve(requester?["practitioner"])
            } else if let practitioner = requester, practitioner.text("resourceType") == "Practitioner" {
                role = bundle.resources("PractitionerRole").first { bundle.resolve($0["practitioner"])?.path == practitioner.path }
            }
            if let person = requester, let name = person.all("name").first, let words = Self.name(name) {
                fields.append(("name", .string(words)))
                put("/referrer/name", name.path)
            } else if let name = sender?.text("name") {
                fields.append(("name", .string(name)))
                put("/referrer/name", "\(sender!.path).name")
            } else {
                put("/referrer/name", "\(request.path).requester")
            }
            if let title = role?.all("code").first.flatMap(Self.words) {
                fields.append(("role", .string(title.text)))
                put("/referrer/role", title.path)
            }
            // The requester's own work number, else the sending service's contact number.
            let telecoms = (role?.all("telecom") ?? []) + (requester?.all("telecom") ?? []) + [message.header["source"]?["contact"]].compactMap { $0 }
            if let contact = telecoms.first(where: { $0.text("system") == "phone" && $0.text("value") != nil }), let phone = contact.text("value") {
                fields.append(("phone", .string(Self.phone(phone))))
                put("/referrer/phone", "\(contact.path).value")
            }
            if let name = sender?.text("name") {
                fields.append(("organisationName", .string(name)))
                put("/referrer/organisationName", "\(sender!.path).name")
            }
            return fields
        }

        /// A phone number as written for people (`+44 (0113) 123 4567`, `01865-741166`) in the
        /// referral's form, digits and spaces after an optional +: brackets, hyphens and dots go,
        /// and the trunk 0 after +44 goes, as it does when the number is dialled from abroad.
        static func phone(_ text: String) -> String {
            var cleaned = String(text.map { "()-.".contains($0) ? " " : $0 })
            cleaned = cleaned.split(separator: " ").joined(separator: " ")
            if cleaned.hasPrefix("+44 0") { cleaned = "+44 " + cleaned.dropFirst(5) }
            return cleaned.split(separator: " ").joined(separator: " ")
        }

        static func name(_ name: FHIRNode) -> String? {
            if let text = name.text("text") { return text }
            let given = name.all("given").compactMap(\.string)
            let words = (given + [name.text("family")].compactMap { $0 }).joined(separator: " ")
            return words.isEmpty ? nil : words
        }

        /// A CodeableConcept's words: its text, else its first coding's display.
        static func words(_ concept: FHIRNode) -> (text: String, path: String)? {
            if let text = concept.text("text") { return (text, "\(concept.path).text") }
            return concept.codings.first { $0.coding.display != nil }.map { ($0.coding.display!, "\($0.path).display") }
        }
    }
}
