import Foundation
import ReferralModel

extension ReferralMapping.Builder {
    /// The reason in words: the ServiceRequest's notes and the words of its codes (reasonCode, code,
    /// and the outcomes of the CarePlan it is based on), in that order, each once.
    mutating func reason() -> String {
        var parts: [String] = []
        var first: String?
        func add(_ text: String?, _ path: String) {
            guard let text, !parts.contains(text) else { return }
            parts.append(text)
            if first == nil { first = path }
        }
        for note in request.all("note") { add(note.text("text"), "\(note.path).text") }
        add(request.text("patientInstruction"), "\(request.path).patientInstruction")
        for concept in request.all("reasonCode") + request.all("code") {
            if let words = Self.words(concept) { add(words.text, words.path) }
        }
        for basis in request.all("basedOn") {
            guard let plan = bundle.resolve(basis), plan.text("resourceType") == "CarePlan" else { continue }
            for activity in plan.all("activity") {
                for outcome in activity.all("outcomeCodeableConcept") {
                    if let words = Self.words(outcome) { add(words.text, words.path) }
                }
            }
        }
        put("/reason", first ?? "\(request.path).note")
        return parts.joined(separator: "\n")
    }

    /// The person's consent: a Consent for the patient that is active, a permit (or with no
    /// provision) for consent given, a deny (or a rejected Consent) for consent refused. Any other
    /// state is not a decision, and none at all is a 422.
    mutating func consent() -> [(key: String, value: JSONValue)]? {
        let consents = bundle.resources("Consent")
        put("/consent", consents.first?.path ?? "Bundle.entry")
        guard let consent = consents.first else {
            issues.append(
                OutcomeIssue(
                    "required", .unprocessable,
                    "The message must carry a Consent resource for the patient: on what basis their information is shared.", at: "Bundle.entry"))
            return nil
        }
        put("/consent/status", "\(consent.path).status")
        let status = consent.text("status")
        let provision = consent["provision"]?.text("type")
        let decision: ConsentStatus
        switch (status, provision) {
        case ("active", "deny"), ("rejected", _): decision = .refused
        case ("active", _): decision = .given
        default:
            issues.append(
                OutcomeIssue(
                    "value", .unprocessable,
                    "Consent.status must be active (given, or refused with provision.type deny) or rejected (refused): a decision, not '\(OperationOutcome.token(status) ?? "missing")'.",
                    at: "\(consent.path).status"))
            return nil
        }
        put("/consent/lawfulBasis", "\(consent.path).provision")
        put("/consent/decisionMaker", "\(consent.path).performer")
        summary.append("consent \(decision.rawValue)")
        var fields: [(key: String, value: JSONValue)] = [("status", .string(decision.rawValue))]
        if let date = consent.text("dateTime"), date.count > 10 {
            fields.append(("decidedAt", .string(date)))
            put("/consent/decidedAt", "\(consent.path).dateTime")
        }
        return fields
    }

    /// True when an active Flag carries a code (or category) the concept map calls safeguarding;
    /// nil when none does, since a message without such a Flag says nothing either way.
    mutating func safeguarding() -> Bool? {
        for flag in bundle.resources("Flag") where flag.text("status") == "active" {
            let codings = (flag.all("code") + flag.all("category")).flatMap(\.codings)
            if let hit = codings.first(where: { concepts.isSafeguarding($0.coding) }) {
                put("/safeguarding", hit.path)
                summary.append("safeguarding flag \(OperationOutcome.token(hit.coding.code) ?? "")")
                return true
            }
        }
        return nil
    }

    /// The sender's own reference for the request: its first identifier, else its id.
    mutating func externalReference() -> String? {
        if let identifier = request.all("identifier").first, let value = identifier.text("value") {
            put("/externalReference", "\(identifier.path).value")
            return value
        }
        if let id = request.text("id") ?? message.serviceRequestURL?.replacingOccurrences(of: "urn:uuid:", with: "") {
            put("/externalReference", "\(request.path).id")
            return id
        }
        return nil
    }

    /// When the request is to be met by: `occurrenceDateTime`, or the end of `occurrencePeriod`,
    /// while it is still ahead. One already past says nothing the urgency's own allowance does not.
    mutating func respondBy() -> String? {
        let candidate = request["occurrencePeriod"]?["end"] ?? request["occurrenceDateTime"]
        guard let node = candidate, let text = node.string else { return nil }
        put("/respondBy", node.path)
        guard let date = Timestamp.parse(text) else { return text }
        if date <= now {
            summary.append("occurrence already passed")
            return nil
        }
        return text
    }
}
