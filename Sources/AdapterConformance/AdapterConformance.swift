import AdapterKit
import Foundation
import ReferralModel

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// One way an adapter fails the conformance kit.
public struct ConformanceFailure: Sendable, CustomStringConvertible {
    public var check: String
    public var example: String
    public var detail: String

    public var description: String { "[\(check)] \(example): \(detail)" }
}

/// The checks every adapter plugin's tests run:
///
/// ```swift
/// @Test func conforms() throws {
///     let adapter = try MyAdapter(setup: AdapterSetup(configDirectory: folder, agencyId: "test"))
///     #expect(AdapterConformance.check(adapter).isEmpty)
/// }
/// ```
///
/// It renders every example referral (complete, only required fields, and awkward text), checks
/// each request is well formed and parses as its content type, that awkward text survives escaping,
/// that rendering is repeatable, that withheld fields are not sent, that replies map to outcomes
/// as HTTP means them, and that a reason never quotes an agency's reply, which may name the person.
public enum AdapterConformance {
    public static func check(_ adapter: any AgencyAdapter) -> [ConformanceFailure] {
        var failures: [ConformanceFailure] = []
        let withholdable = Set(ReferralField.allCases).subtracting(ReferralField.essential)
        for (name, referral) in ExampleReferrals.all {
            for withheld in [Set<ReferralField>(), withholdable] {
                let label = withheld.isEmpty ? name : "\(name), withholding every non-essential field"
                let context = DeliveryContext(
                    deliveryId: "0196f0c0-0000-7000-8000-00000000000a", referralId: "0196f0c0-0000-7000-8000-00000000000b",
                    agencyId: "conformance", rule: "conformance-rule", receivedAt: Date(timeIntervalSince1970: 1_795_000_000),
                    withheld: withheld)
                let given = referral.withholding(withheld)
                let request: OutboundRequest
                do {
                    request = try adapter.render(given, context: context)
                } catch {
                    failures.append(.init(check: "renders", example: label, detail: "render threw \(error)"))
                    continue
                }
                failures += wellFormed(request, label)
                if let again = try? adapter.render(given, context: context), again != request {
                    failures.append(.init(check: "repeatable", example: label, detail: "two renders of the same delivery differ"))
                }
                let texts = documentTexts(request, label, &failures)
                if withheld.isEmpty, name == "awkward", let texts {
                    failures += escaping(adapter, referral, texts, label)
                }
                if !withheld.isEmpty {
                    failures += minimised(request, referral, withheld, label)
                }
            }
        }
        failures += outcomes(adapter)
        return failures
    }

    static func wellFormed(_ request: OutboundRequest, _ label: String) -> [ConformanceFailure] {
        var failures: [ConformanceFailure] = []
        func fail(_ detail: String) { failures.append(.init(check: "well-formed", example: label, detail: detail)) }
        if !["POST", "PUT", "PATCH"].contains(request.method) { fail("method \(request.method) is not POST, PUT or PATCH") }
        if !request.path.isEmpty, !request.path.hasPrefix("/") || request.path.contains(" ") {
            fail("path '\(request.path)' must be empty or start with / and have no spaces")
        }
        if request.contentType.isEmpty || request.contentType.contains(where: \.isNewline) { fail("content type is empty or has a line break") }
        let token = CharacterSet(charactersIn: "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
        for header in request.headers {
            if header.name.isEmpty || header.name.unicodeScalars.contains(where: { !token.contains($0) }) {
                fail("header name '\(header.name)' is not an HTTP token")
            }
            if header.value.contains(where: \.isNewline) { fail("header \(header.name) has a line break in its value") }
        }
        if request.body.isEmpty { fail("the body is empty") }
        return failures
    }

    /// Every text value in the body, parsed as its content type; nil when the type is not one the
    /// kit knows (then only well-formedness is checked).
    static func documentTexts(_ request: OutboundRequest, _ label: String, _ failures: inout [ConformanceFailure]) -> [String]? {
        let type = request.contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        if type == "application/json" || type.hasSuffix("+json") {
            do {
                var texts: [String] = []
                collect(try JSONParser.parse(request.body), into: &texts)
                return texts
            } catch {
                failures.append(.init(check: "parses", example: label, detail: "the body is not JSON: \(error)"))
                return nil
            }
        }
        if type == "application/xml" || type == "text/xml" || type.hasSuffix("+xml") {
            let collector = XMLTextCollector()
            let parser = XMLParser(data: Data(request.body))
            parser.delegate = collector
            guard parser.parse() else {
                failures.append(.init(check: "parses", example: label, detail: "the body is not XML (line \(parser.lineNumber))"))
                return nil
            }
            return collector.texts
        }
        if type == "application/x-www-form-urlencoded" {
            var texts: [String] = []
            for pair in String(decoding: request.body, as: UTF8.self).split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2, let value = String(parts[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding else {
                    failures.append(.init(check: "parses", example: label, detail: "'\(pair.prefix(30))' is not a name=value pair"))
                    return nil
                }
                texts.append(value)
            }
            return texts
        }
        return nil
    }

    private static func collect(_ value: JSONValue, into texts: inout [String]) {
        switch value {
        case .string(let text): texts.append(text)
        case .array(let items): for item in items { collect(item, into: &texts) }
        case .object(let object): for member in object.members { collect(member.value, into: &texts) }
        default: break
        }
    }

    /// The awkward referral's text comes back out of the parsed document intact.
    static func escaping(_ adapter: any AgencyAdapter, _ referral: Referral, _ texts: [String], _ label: String) -> [ConformanceFailure] {
        let probes: [(ReferralField, String)] = [
            (.familyName, referral.subject.familyName), (.givenName, referral.subject.givenName),
            (.referrerName, referral.referrer.name), (.reason, referral.reason), (.address, referral.subject.address ?? ""),
        ]
        var failures: [ConformanceFailure] = []
        for (field, value) in probes where adapter.mappedFields.contains(field) {
            // XML 1.0 cannot carry control characters at all; compare without them.
            let printable = String(value.unicodeScalars.filter { $0.value >= 0x20 || $0 == "\n" || $0 == "\t" })
            if !texts.contains(where: { $0.contains(value) || $0.contains(printable) }) {
                failures.append(.init(check: "escaping", example: label, detail: "\(field.path) did not come back intact from the parsed body"))
            }
        }
        return failures
    }

    /// Withheld values appear nowhere in the request.
    static func minimised(_ request: OutboundRequest, _ original: Referral, _ withheld: Set<ReferralField>, _ label: String) -> [ConformanceFailure] {
        let everything = String(decoding: request.body, as: UTF8.self) + request.headers.map(\.value).joined()
        let secrets: [(ReferralField, String?)] = [
            (.nhsNumber, original.subject.nhsNumber), (.address, original.subject.address), (.subjectPhone, original.subject.phone),
            (.reason, original.reason), (.referrerEmail, original.referrer.email), (.referrerPhone, original.referrer.phone),
            (.externalReference, original.externalReference),
        ]
        return secrets.compactMap { field, value in
            guard withheld.contains(field), let value, value.count >= 6, everything.contains(value) else { return nil }
            return .init(check: "minimisation", example: label, detail: "\(field.path) is withheld but its value was sent")
        }
    }

    static func outcomes(_ adapter: any AgencyAdapter) -> [ConformanceFailure] {
        let context = DeliveryContext(
            deliveryId: "0196f0c0-0000-7000-8000-00000000000a", referralId: "0196f0c0-0000-7000-8000-00000000000b",
            agencyId: "conformance", rule: "conformance-rule", receivedAt: Date(timeIntervalSince1970: 1_795_000_000))
        var failures: [ConformanceFailure] = []
        for status in [200, 201, 202, 204, 400, 401, 403, 404, 409, 410, 422, 408, 429, 500, 502, 503, 504] {
            let outcome = adapter.interpret(AgencyReply(status: status, body: Array("{}".utf8)), context: context)
            let expected: String =
                switch status {
                case 200..<300: "delivered"
                case 408, 429, 500..<600: "retryable"
                default: "permanent"
                }
            let actual: String =
                switch outcome {
                case .delivered, .accepted: "delivered"
                case .retryable: "retryable"
                case .permanent: "permanent"
                }
            if actual != expected {
                failures.append(.init(check: "outcomes", example: "HTTP \(status)", detail: "read as \(actual), expected \(expected)"))
            }
        }
        failures += repliesNotQuoted(adapter, context: context)
        return failures
    }

    /// An agency's error reply may name the person; a reason is logged and audited, so it must
    /// not quote the reply's text (the delivery keeps the reply itself for administrators).
    static func repliesNotQuoted(_ adapter: any AgencyAdapter, context: DeliveryContext) -> [ConformanceFailure] {
        let personal = ["Zebedee", "Quixotic-Marsh", "9997654323", "ZZ99 3WZ"]
        let text = "Zebedee Quixotic-Marsh, NHS 9997654323, ZZ99 3WZ"
        let bodies = [
            #"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid","diagnostics":"\#(text)","details":{"text":"\#(text)","coding":[{"code":"\#(text)","display":"\#(text)"}]}}]}"#,
            #"{"error":"\#(text)","message":"\#(text)","reference":"\#(text)","status":"\#(text)"}"#,
            "<error><message>\(text)</message></error>", text,
        ]
        var failures: [ConformanceFailure] = []
        for status in [400, 409, 422, 429, 500, 503] {
            for body in bodies {
                let reason: String? =
                    switch adapter.interpret(AgencyReply(status: status, body: Array(body.utf8)), context: context) {
                    case .retryable(let reason, _), .permanent(let reason): reason
                    case .delivered, .accepted: nil
                    }
                if let reason, let quoted = personal.first(where: { reason.contains($0) }) {
                    failures.append(
                        .init(
                            check: "replies-not-quoted", example: "HTTP \(status)",
                            detail: "the reason quotes the agency's reply ('\(quoted)'); name codes only"))
                }
            }
        }
        return failures
    }
}

/// Gathers element text and attribute values from an XML document.
final class XMLTextCollector: NSObject, XMLParserDelegate {
    var texts: [String] = []
    private var current = ""

    func parser(
        _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]
    ) {
        texts.append(contentsOf: attributes.values)
        current = ""
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { current += string }

    func parser(_ parser: XMLParser, foundCDATA block: Data) { current += String(decoding: block, as: UTF8.self) }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
        texts.append(current)
        current = ""
    }
}
