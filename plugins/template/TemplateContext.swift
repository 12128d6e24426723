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
        // Most values need nothing escaped: no control character, quote, backslash, or the lead byte
        // of U+2028 and U+2029 (0xE2, which a few other characters share and the slow path keeps).
        if !text.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") || $0 == 0xE2 }) { return text }
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
    private static let markup = Array("&<>\"'".utf8)

    func escapeText(_ text: String) -> String {
        // Most values need nothing escaped: no control character, markup character, or the lead
        // byte of U+FFFE and U+FFFF (0xEF, which other characters share and the slow path keeps).
        if !text.utf8.contains(where: { $0 < 0x20 || $0 == 0xEF || Self.markup.contains($0) }) { return text }
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
/// missing optional field renders empty while a misspelt name is caught. Each value is read from
/// the referral when the template asks for it: nothing is gathered in advance for names a
/// template never uses (building every level's dictionary was a sixth of a render).
struct TemplateNode: MustacheParent {
    enum Level { case root, consent, referrer, subject }
    let level: Level
    let referral: Referral
    let context: DeliveryContext
    let recorder: NameRecorder?

    func child(named name: String) -> Any? {
        guard let value = Self.value(named: name, level: level, referral: referral, context: context, recorder: recorder) else { return nil }
        return switch value {
        case .text(let text): text
        case .flag(let flag): flag
        case .list(let list): list
        case .number(let number): number
        case .node(let level): TemplateNode(level: level, referral: referral, context: context, recorder: recorder)
        }
    }

    /// The value `name` has at `level`, or nil when it has none (or is not a name at that level).
    static func value(
        named name: String, level: Level, referral: Referral, context: DeliveryContext, recorder: NameRecorder? = nil
    ) -> TemplateValue? {
        let (prefix, known) =
            switch level {
            case .root: ("", Self.rootNames)
            case .consent: ("consent", Self.consentNames)
            case .referrer: ("referrer", Self.referrerNames)
            case .subject: ("subject", Self.subjectNames)
            }
        guard known.contains(name) else {
            recorder?.unknown(name)
            return nil
        }
        recorder?.asked(prefix.isEmpty ? name : prefix + "/" + name)
        return switch level {
        case .root: rootValue(name, referral, context)
        case .consent: consentValue(name, referral.consent)
        case .referrer: referrerValue(name, referral.referrer, context)
        case .subject: subjectValue(name, referral.subject)
        }
    }

    private static func rootValue(_ name: String, _ referral: Referral, _ context: DeliveryContext) -> TemplateValue? {
        switch name {
        case "referralId": .text(context.referralId)
        case "deliveryId": .text(context.deliveryId)
        case "rule": .text(context.rule)
        case "receivedAt": .text(Timestamp.string(context.receivedAt))
        case "agencyId": .text(context.agencyId)
        case "urgency": .text(referral.urgency.rawValue)
        case "needs": .list(referral.needs)
        case "needsText": .text(referral.needs.joined(separator: ", "))
        case "consent": .node(.consent)
        case "referrer": .node(.referrer)
        case "subject": .node(.subject)
        case "reason": context.withheld.contains(.reason) ? nil : .text(referral.reason)
        case "safeguarding": referral.safeguarding.map(TemplateValue.flag)
        case "safeguardingKnown": referral.safeguarding != nil ? .flag(true) : nil
        case "externalReference": referral.externalReference.map(TemplateValue.text)
        case "respondBy": referral.respondBy.map(TemplateValue.text)
        case "expectedDischargeDate": referral.expectedDischargeDate.map(TemplateValue.text)
        default: nil
        }
    }

    private static func consentValue(_ name: String, _ consent: Referral.Consent) -> TemplateValue? {
        switch name {
        case "status": .text(consent.status.rawValue)
        case "lawfulBasis": consent.lawfulBasis.map { .text($0.rawValue) }
        case "decisionMaker": consent.decisionMaker.map(TemplateValue.text)
        case "decidedAt": consent.decidedAt.map(TemplateValue.text)
        case "capacityAssessedBy": consent.capacityAssessedBy.map(TemplateValue.text)
        default: nil
        }
    }

    private static func referrerValue(_ name: String, _ referrer: Referral.Referrer, _ context: DeliveryContext) -> TemplateValue? {
        switch name {
        case "organisation": .text(referrer.organisation)
        case "organisationName": referrer.organisationName.map(TemplateValue.text)
        case "name": context.withheld.contains(.referrerName) ? nil : .text(referrer.name)
        case "role": referrer.role.map(TemplateValue.text)
        case "phone": referrer.phone.map(TemplateValue.text)
        case "email": referrer.email.map(TemplateValue.text)
        default: nil
        }
    }

    private static func subjectValue(_ name: String, _ subject: Referral.Subject) -> TemplateValue? {
        switch name {
        case "nhsNumber": subject.nhsNumber.map(TemplateValue.text)
        case "givenName": .text(subject.givenName)
        case "familyName": .text(subject.familyName)
        case "birthDate": .text(subject.birthDate)
        case "address": subject.address.map(TemplateValue.text)
        case "postcode": .text(subject.postcode)
        case "phone": subject.phone.map(TemplateValue.text)
        case "preferredLanguage": subject.preferredLanguage.map(TemplateValue.text)
        case "interpreterNeeded": subject.interpreterNeeded.map(TemplateValue.flag)
        // A yes/no fact has three answers: yes, no, and not asked. `…Known` tells the last apart, so
        // a template can leave out (or send null for) what the referrer did not say.
        case "interpreterNeededKnown": subject.interpreterNeeded != nil ? .flag(true) : nil
        case "gender": subject.gender.map { .text($0.rawValue) }
        case "registeredPractice": subject.registeredPractice.map(TemplateValue.text)
        default: nil
        }
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
        TemplateNode(level: .root, referral: referral, context: context, recorder: recorder)
    }
}
