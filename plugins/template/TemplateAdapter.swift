import AdapterKit
import Foundation
import Mustache
import ReferralModel

/// Renders each delivery through a Mustache template named in the agency's options, for agencies
/// whose systems take a bespoke JSON, XML, form or text format. Values are escaped for the
/// template's content type, so a name with quotes, markup or ampersands cannot break the document.
///
/// The template is compiled when configuration loads and rendered against example referrals: a
/// syntax error, a name that is not a referral field, or output that does not parse as its content
/// type stops the gateway at start-up with agencies.yaml's line.
///
/// Names available: `referralId`, `deliveryId`, `rule`, `receivedAt`, `agencyId`, `urgency`,
/// `reason`, `safeguarding`, `externalReference`, `needs` (a list), `needsText`,
/// `consent.status`, `referrer.organisation|name|role|phone|email`, `subject.nhsNumber|givenName|
/// familyName|birthDate|address|postcode|phone|preferredLanguage|interpreterNeeded`.
public struct TemplateAdapter: AgencyAdapter {
    public static let name = "template"
    public static let summary = "A Mustache template (JSON, XML, form or text) for agencies with bespoke formats."
    public static let optionSpecs: [OptionSpec] = [
        OptionSpec("template", .text, required: true, summary: "The template file, relative to agencies.yaml."),
        OptionSpec(
            "content_type", .choice(TemplateContentType.allCases.map(\.rawValue)), required: true,
            summary: "How values are escaped and the output checked."),
        OptionSpec("media_type", .text, summary: "The Content-Type header (default from content_type)."),
        OptionSpec("method", .choice(["POST", "PUT"]), summary: "The HTTP method (default POST)."),
        OptionSpec("path", .text, summary: "Appended to the agency's endpoint (default none)."),
        OptionSpec("headers", .textMap, summary: "Extra request headers, such as an API version."),
    ]

    public let mappedFields: Set<ReferralField>
    let template: MustacheTemplate
    /// The same template without the library's dynamic lookups, when it compiles and agrees.
    let compiled: CompiledTemplate?
    let contentType: TemplateContentType
    let mediaType: String
    let method: String
    let path: String
    let headers: [OutboundRequest.Header]

    public init(setup: AdapterSetup) throws(AdapterOptionErrors) {
        TemplateContentType.registerAll()
        var reader = OptionReader(setup, specs: Self.optionSpecs)
        try reader.finish()
        contentType = TemplateContentType(rawValue: reader.text("content_type") ?? "") ?? .text
        mediaType = reader.text("media_type") ?? contentType.mediaType
        method = reader.text("method") ?? "POST"
        path = reader.text("path") ?? ""
        headers = (reader.textMap("headers") ?? [:]).sorted { $0.key < $1.key }.map { .init($0.key, $0.value) }
        if !path.isEmpty, !path.hasPrefix("/") { reader.fail("path", "option 'path' must start with /") }

        let file = reader.text("template") ?? ""
        guard let url = setup.fileInsideConfiguration(file) else {
            reader.fail(
                "template", "the template file \(file) is outside the configuration folder",
                hint: "keep templates beside agencies.yaml (for example templates/council.json): what a template holds is sent to the agency")
            throw AdapterOptionErrors(errors: reader.errors)
        }
        guard let text = try? String(contentsOf: url, encoding: .utf8) else {
            reader.fail("template", "cannot read the template file \(url.path)", hint: "paths are relative to agencies.yaml")
            throw AdapterOptionErrors(errors: reader.errors)
        }
        do {
            template = try MustacheTemplate(string: "{{% CONTENT_TYPE: \(contentType.pragmaName)}}" + text)
        } catch let error as MustacheTemplate.ParserError {
            reader.fail(
                "template", "\(file):\(error.context.lineNumber):\(error.context.columnNumber): the template does not compile: \(error.error)")
            throw AdapterOptionErrors(errors: reader.errors)
        } catch {
            reader.fail("template", "\(file): the template does not compile: \(error)")
            throw AdapterOptionErrors(errors: reader.errors)
        }

        // Render every example referral, recording the names the template asks for.
        let recorder = NameRecorder()
        for example in ExampleReferrals.all {
            let context = DeliveryContext(
                deliveryId: Identifier.make(), referralId: Identifier.make(), agencyId: setup.agencyId, rule: "example",
                receivedAt: Date(timeIntervalSince1970: 1_795_000_000))
            let output = template.render(TemplateNode.root(example.referral, context: context, recorder: recorder))
            if let problem = contentType.problem(in: output) {
                reader.fail(
                    "template", "\(file): rendering the \(example.name) example referral does not give valid \(contentType.rawValue): \(problem)",
                    hint: "check quoting around {{names}}: values are escaped for \(contentType.rawValue), the quotes are the template's")
                break
            }
        }
        let unknown = recorder.unknownNames
        if !unknown.isEmpty {
            reader.fail(
                "template",
                "\(file): the template uses \(unknown.map { "{{\($0)}}" }.joined(separator: ", ")), which \(unknown.count == 1 ? "is" : "are") not referral fields",
                hint: "names available: \(TemplateNode.allNames.joined(separator: ", "))")
        }
        mappedFields = recorder.fields
        try reader.finish()
        let library = template
        compiled = CompiledTemplate(library).flatMap { $0.agrees(with: library) ? $0 : nil }
    }

    public func render(_ referral: Referral, context: DeliveryContext) throws -> OutboundRequest {
        let output =
            compiled?.render(referral, context: context) ?? template.render(TemplateNode.root(referral, context: context, recorder: nil))
        return OutboundRequest(method: method, path: path, headers: headers, body: Array(output.utf8), contentType: mediaType)
    }

    /// Whether deliveries render through the compiled form (`CompiledTemplate`) rather than the library.
    @_spi(Measure) public var rendersCompiled: Bool { compiled != nil }

    /// The body as the Mustache library alone renders it: what the compiled form must equal, and
    /// the baseline `bench/deliveries` measures it against.
    @_spi(Measure) public func renderThroughLibrary(_ referral: Referral, context: DeliveryContext) -> [UInt8] {
        Array(template.render(TemplateNode.root(referral, context: context, recorder: nil)).utf8)
    }
}
