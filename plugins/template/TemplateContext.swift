import AdapterKit
import Foundation
import Mustache
import ReferralModel
import Synchronization

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// How a template's values are escaped, and how its output is checked.
enum TemplateContentType: String, CaseIterable, Sendable {
    case json, xml, form, text

    var pragmaName: String { "SWITCHBOARD_" + rawValue.uppercased() }

    var mediaType: String {
        switch self {
        case .json: "application/json"
        case .xml: "application/xml"
        case .form: "application/x-www-form-urlencoded"
        case .text: "text/plain; charset=utf-8"
        }
    }

    static func registerAll() {
        MustacheContentTypes.register(JSONEscaping(), named: TemplateContentType.json.pragmaName)
        MustacheContentTypes.register(XMLEscaping(), named: TemplateContentType.xml.pragmaName)
        MustacheContentTypes.register(FormEscaping(), named: TemplateContentType.form.pragmaName)
        MustacheContentTypes.register(PlainText(), named: TemplateContentType.text.pragmaName)
    }

    /// Why `output` is not a document of this type, or nil when it is.
    func problem(in output: String) -> String? {
        switch self {
        case .json:
            do {
                _ = try JSONParser.parse(Array(output.utf8))
                return nil
            } catch {
                return error.description
            }
        case .xml:
            let parser = XMLParser(data: Data(output.utf8))
            return parser.parse()
                ? nil : "XML parser: \(parser.parserError.map { "\($0.localizedDescription)" } ?? "unknown error") at line \(parser.lineNumber)"
        case .form:
            for pair in output.split(separator: "&", omittingEmptySubsequences: false) {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2, !parts[0].isEmpty, parts.allSatisfy({ String($0).removingPercentEncoding != nil }),
                    !pair.contains(where: { $0 == " " || $0 == "\n" })
                else { return "'\(pair.prefix(40))' is not a name=value pair" }
            }
            return nil
        case .text:
            return nil
        }
    }
}

struct JSONEscaping: MustacheContentType {
    func escapeText(_ text: String) -> String {
        var escaped = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": escaped += "\\\""
            case "\\": escaped += "\\\\"
            case "\n": escaped += "\\n"
            case "\r": escaped += "\\r"
            case "\t": escaped += "\\t"
            case "\u{2028}": escaped += "\\u2028"
            case "\u{2029}": escaped += "\\u2029"
            default:
                if scalar.value < 0x20 {
                    escaped += "\\u00" + Hex.encode([UInt8(scalar.value)])
                } else {
                    escaped.unicodeScalars.append(scalar)
                }
            }
        }
        return escaped
    }
}

struct XMLEscaping: MustacheContentType {
    func escapeText(_ text: String) -> String {
        var escaped = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&apos;"
            case "\t", "\n", "\r": escaped.unicodeScalars.append(scalar)
            default:
                // XML 1.0 cannot carry other control characters, even escaped.
                if scalar.value < 0x20 || (0xFFFE...0xFFFF).contains(scalar.value) {
                    escaped += "\u{FFFD}"
                } else {
                    escaped.unicodeScalars.append(scalar)
                }
            }
        }
        return escaped
    }
}

struct FormEscaping: MustacheContentType {
    private static let unreserved = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
    func escapeText(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: Self.unreserved) ?? ""
    }
}

struct PlainText: MustacheContentType {
    func escapeText(_ text: String) -> String { text }
}

/// The names a template asked for while rendering, to find typos and the fields it sends.
final class NameRecorder: Sendable {
    private let state = Mutex<(asked: Set<String>, unknown: Set<String>)>(([], []))

    func asked(_ path: String) { state.withLock { _ = $0.asked.insert(path) } }
    func unknown(_ name: String) { state.withLock { _ = $0.unknown.insert(name) } }

    /// Names no level of the context knows (Mustache looks a name up in enclosing sections too).
    var unknownNames: [String] {
        state.withLock { state in
            state.unknown.filter { !TemplateNode.allNames.contains($0) && !TemplateNode.allLeafNames.contains($0) }.sorted()
        }
    }

    var fields: Set<ReferralField> {
        state.withLock { state in
            var fields = Set(state.asked.compactMap { ReferralField(rawValue: "/" + $0) })
            if state.asked.contains("needsText") { fields.insert(.needs) }
            return fields
        }
    }
}

/// One level of a template's context: knows its names even when a referral leaves them out, so a
/// missing optional field renders empty while a misspelt name is caught.
struct TemplateNode: MustacheParent {
    let prefix: String
    let known: [String]
    let values: [String: Any]
    let recorder: NameRecorder?

    func child(named name: String) -> Any? {
        let path = prefix.isEmpty ? name : prefix + "/" + name
        guard known.contains(name) else {
            recorder?.unknown(name)
            return nil
        }
        recorder?.asked(path)
        return values[name]
    }

    static let rootNames = [
        "referralId", "deliveryId", "rule", "receivedAt", "agencyId", "urgency", "reason", "safeguarding", "safeguardingKnown",
        "externalReference", "respondBy", "expectedDischargeDate", "needs", "needsText", "consent", "referrer", "subject",
    ]
    static let referrerNames = ["organisation", "organisationName", "name", "role", "phone", "email"]
    static let subjectNames = [
        "nhsNumber", "givenName", "familyName", "birthDate", "address", "postcode", "phone", "preferredLanguage", "interpreterNeeded",
        "interpreterNeededKnown", "gender", "registeredPractice",
    ]
    static let consentNames = ["status", "lawfulBasis", "decisionMaker", "decidedAt", "capacityAssessedBy"]
    static let allNames: [String] =
        rootNames.filter { !["consent", "referrer", "subject"].contains($0) } + consentNames.map { "consent." + $0 }
        + referrerNames.map { "referrer." + $0 } + subjectNames.map { "subject." + $0 }
    static let allLeafNames = Set(rootNames + referrerNames + subjectNames + consentNames)

    static func root(_ referral: Referral, context: DeliveryContext, recorder: NameRecorder?) -> TemplateNode {
        var referrer: [String: Any] = ["organisation": referral.referrer.organisation]
        if !context.withheld.contains(.referrerName) { referrer["name"] = referral.referrer.name }
        referrer["role"] = referral.referrer.role
        referrer["phone"] = referral.referrer.phone
        referrer["email"] = referral.referrer.email
        referrer["organisationName"] = referral.referrer.organisationName
        let subject: [String: Any?] = [
            "nhsNumber": referral.subject.nhsNumber, "givenName": referral.subject.givenName, "familyName": referral.subject.familyName,
            "birthDate": referral.subject.birthDate, "address": referral.subject.address, "postcode": referral.subject.postcode,
            "phone": referral.subject.phone, "preferredLanguage": referral.subject.preferredLanguage,
            "interpreterNeeded": referral.subject.interpreterNeeded,
            // A yes/no fact has three answers: yes, no, and not asked. `…Known` tells the last apart, so
            // a template can leave out (or send null for) what the referrer did not say.
            "interpreterNeededKnown": referral.subject.interpreterNeeded != nil ? true : nil,
            "gender": referral.subject.gender?.rawValue, "registeredPractice": referral.subject.registeredPractice,
        ]
        var values: [String: Any] = [
            "referralId": context.referralId, "deliveryId": context.deliveryId, "rule": context.rule,
            "receivedAt": Timestamp.string(context.receivedAt), "agencyId": context.agencyId, "urgency": referral.urgency.rawValue,
            "needs": referral.needs, "needsText": referral.needs.joined(separator: ", "),
            "consent": TemplateNode(
                prefix: "consent", known: consentNames,
                values: [
                    "status": referral.consent.status.rawValue, "lawfulBasis": referral.consent.lawfulBasis?.rawValue,
                    "decisionMaker": referral.consent.decisionMaker, "decidedAt": referral.consent.decidedAt,
                    "capacityAssessedBy": referral.consent.capacityAssessedBy,
                ].compactMapValues { $0 }, recorder: recorder),
            "referrer": TemplateNode(prefix: "referrer", known: referrerNames, values: referrer, recorder: recorder),
            "subject": TemplateNode(prefix: "subject", known: subjectNames, values: subject.compactMapValues { $0 }, recorder: recorder),
        ]
        if !context.withheld.contains(.reason) { values["reason"] = referral.reason }
        values["safeguarding"] = referral.safeguarding
        if referral.safeguarding != nil { values["safeguardingKnown"] = true }
        values["externalReference"] = referral.externalReference
        values["respondBy"] = referral.respondBy
        values["expectedDischargeDate"] = referral.expectedDischargeDate
        return TemplateNode(prefix: "", known: rootNames, values: values, recorder: recorder)
    }
}
