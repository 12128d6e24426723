import BaRS
import Foundation
import ReferralModel

extension ProcessMessage {
    /// An intake refusal as OperationOutcome issues, each decoder problem at the FHIR path its
    /// field was mapped from.
    static func issues(_ refusal: ReferralIntake.Refusal, mapping: ReferralMapping, message: InboundMessage) -> OutcomeIssues {
        switch refusal {
        case .malformed(let words):
            return OutcomeIssues([OutcomeIssue("structure", .badRequest, words)])
        case .invalid(let problems):
            return OutcomeIssues(
                problems.map { problem in
                    OutcomeIssue(
                        problem.detail.hasPrefix("is required") ? "required" : "value", .unprocessable,
                        "\(Self.field(problem.pointer)) \(problem.detail)",
                        at: mapping.expression(for: problem.pointer, fallback: message.serviceRequest.path))
                })
        case .idempotencyConflict:
            return OutcomeIssues([
                OutcomeIssue(
                    "duplicate", .conflict,
                    "A different request with this ServiceRequest's identifier was already received; send an update (reason update) to change it.",
                    at: "\(message.serviceRequest.path).identifier")
            ])
        case .organisationNotAllowed(let claimed, let allowed):
            return OutcomeIssues([
                OutcomeIssue(
                    "forbidden", .forbidden,
                    "This API key may send requests for \(allowed.joined(separator: ", ")) only; the sender is \(claimed).",
                    at: mapping.expression(for: "/referrer/organisation", fallback: "\(message.header.path).sender"))
            ])
        }
    }

    /// The referral field a pointer names, in words for the diagnostics (`subject nhsNumber`).
    static func field(_ pointer: String) -> String {
        let words = pointer.split(separator: "/").joined(separator: " ")
        return words.isEmpty ? "The request" : "The mapped \(words)"
    }

    static func issues(_ refusal: ReferralLoop.Refusal, message: InboundMessage) -> OutcomeIssues {
        let request = message.serviceRequest.path
        switch refusal {
        case .notFound:
            return OutcomeIssues([OutcomeIssue("not-found", .notFound, "There is no such referral for this key.", at: "\(request).identifier")])
        case .noAgency:
            return OutcomeIssues([OutcomeIssue("forbidden", .forbidden, "This agency key answers for no agency; its administrator must name one.")])
        case .notYours:
            return OutcomeIssues([
                OutcomeIssue("forbidden", .forbidden, "This referral was not sent to this key's agency.", at: "\(request).identifier")
            ])
        case .notAlong(let current):
            return OutcomeIssues([
                OutcomeIssue(
                    "conflict", .conflict, "Not possible now: the referral is \(current.rawValue) here.", at: "\(request).status")
            ])
        case .agencyNotAllowed(let agency, let why):
            return OutcomeIssues([OutcomeIssue("business-rule", .unprocessable, "\(agency): \(why)")])
        case .questionRequired:
            return OutcomeIssues([
                OutcomeIssue(
                    "required", .unprocessable, "A referral declined for insufficient information must say what is missing, in ServiceRequest.note.",
                    at: "\(request).note")
            ])
        }
    }

    static func members(_ value: JSONValue) -> [(key: String, value: JSONValue)] {
        if case .object(let object) = value { return object.members }
        return []
    }

    /// The JSON Merge Patch that turns `before` into `after`: objects member by member, a member
    /// gone written as null; anything else replaced whole.
    static func mergePatch(from before: JSONValue?, to after: JSONValue) -> JSONValue {
        guard case .object(let new)? = Optional(after), case .object(let old)? = before else { return after }
        var members: [(key: String, value: JSONValue)] = []
        for member in new.members where old[member.key] != member.value {
            members.append((member.key, mergePatch(from: old[member.key], to: member.value)))
        }
        for member in old.members where new[member.key] == nil { members.append((member.key, .null)) }
        return .object(JSONObject(members))
    }
}

extension JSONValue {
    /// A document the gateway wrote itself (canonical JSON), read back.
    static func fromCanonical(_ data: Data) -> JSONValue { (try? JSONParser.parse(Array(data))) ?? .null }
}
