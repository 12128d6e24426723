import AdapterKit
import Foundation
import Mustache
import ReferralModel
import Testing

@_spi(Measure) @testable import TemplateAdapter

/// Deliveries render templates through `CompiledTemplate`, not the Mustache library: these check that
/// what an agency receives is, byte for byte, what the library renders.
@Suite struct CompiledTemplateTests {
    /// A template with every part the compiled form models: variables escaped and not, names looked
    /// up through enclosing sections, `.` and `.name`, sections over levels, strings, lists and
    /// yes/no facts, inverted sections, a list's positions, comments, standalone lines. A subject and
    /// a referrer both have a phone: the innermost level's wins, and a missing one is looked up outwards.
    static let everyPart = """
        {{! a comment on its own line }}
        Id {{referralId}} / {{&deliveryId}} / {{{rule}}} {{! inline }}at {{receivedAt}}
        {{#subject}}
          {{givenName}} {{familyName}} ({{referralId}}) {{.givenName}}|{{.referralId}}|
          {{#nhsNumber}}NHS {{.}}{{/nhsNumber}}{{^nhsNumber}}no number{{/nhsNumber}}
          {{#phone}}<{{.}}> {{givenName}}{{/phone}}
        {{/subject}}
        Needs: {{#needs}}{{index()}}={{.}}{{#first()}} (first){{/first()}}{{^last()}}, {{/last()}}{{#even()}}e{{/even()}}{{#odd()}}o{{/odd()}}{{#safeguarding}}{{last()}}{{/safeguarding}}{{#reason}}[{{last()}}]{{/reason}}{{/needs}}
        {{^needs}}no needs{{/needs}}
        {{needs}} {{&needs}} {{safeguarding}} {{subject.interpreterNeeded}} {{first()}}{{#first()}}never{{/first()}}
        {{#safeguarding}}safeguarding{{/safeguarding}}{{^safeguarding}}no safeguarding{{/safeguarding}}
        {{#safeguardingKnown}}{{#subject}}{{postcode}} {{#interpreterNeededKnown}}{{interpreterNeeded}}{{/interpreterNeededKnown}}{{/subject}}{{/safeguardingKnown}}
          {{#referrer}}
        {{.name}}, {{name}}, {{role}}{{#email}} {{.}}{{/email}} {{organisationName}}
          {{/referrer}}
        {{#consent}}{{status}} {{lawfulBasis}} {{decisionMaker}}{{/consent}}
        {{#referrer}}{{#subject}}{{phone}}|{{.phone}}|{{email}}{{/subject}} {{phone}}{{/referrer}}
        {{reason}} {{{reason}}} {{externalReference}} {{respondBy}} {{expectedDischargeDate}} {{needsText}} {{urgency}} {{agencyId}}
        """

    static func adapter(_ text: String, contentType: String) throws -> TemplateAdapter {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-compiled-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try text.write(to: directory.appendingPathComponent("t.mustache"), atomically: true, encoding: .utf8)
        return try TemplateAdapter(
            setup: AdapterSetup(
                options: [
                    "template": ConfigValue(.text("t.mustache"), line: 1, column: 1),
                    "content_type": ConfigValue(.text(contentType), line: 1, column: 1),
                ],
                configDirectory: directory, agencyId: "test-agency"))
    }

    static let awkwardTexts = [
        "", "plain", "Siân O'Brien & \"Co\" <duty>", "back\\slash", "line\nbreak\ttab\r", "\u{2028}sep\u{2029}", "a&b=c d+e%f",
        "]]><![CDATA[", "{{referralId}}", "😀 emoji", "\u{01}control", "\u{FFFE}",
    ]

    /// Referrals with each optional field present or not, awkward text, and lists of 0 to 4 needs;
    /// seeded, so a failure can be replayed.
    static func referrals(count: Int, seed: UInt64) -> [(Referral, DeliveryContext)] {
        var random = SplitMix64(state: seed)
        func text() -> String { awkwardTexts.randomElement(using: &random)! }
        func maybe() -> String? { Bool.random(using: &random) ? text() : nil }
        func fact() -> Bool? { [true, false, nil].randomElement(using: &random)! }
        let optionalTexts: [WritableKeyPath<Referral, String?>] = [
            \.subject.nhsNumber, \.subject.address, \.subject.phone, \.subject.preferredLanguage, \.subject.registeredPractice,
            \.referrer.role, \.referrer.email, \.referrer.organisationName, \.consent.decisionMaker, \.externalReference, \.respondBy,
            \.expectedDischargeDate,
        ]
        return (0..<count).map { index in
            var referral = ExampleReferrals.all[index % ExampleReferrals.all.count].referral
            for field in optionalTexts { referral[keyPath: field] = maybe() }
            referral.subject.givenName = text()
            referral.referrer.name = text()
            referral.reason = text()
            referral.subject.interpreterNeeded = fact()
            referral.safeguarding = fact()
            referral.needs = (0..<Int.random(in: 0...4, using: &random)).map { _ in text() }
            var withheld = Set<ReferralField>()
            if Bool.random(using: &random) { withheld.insert(.reason) }
            if Bool.random(using: &random) { withheld.insert(.referrerName) }
            let context = DeliveryContext(
                deliveryId: "01a20000-0000-7000-8000-00000000000\(index % 10)", referralId: "01a20000-0000-7000-8000-000000000002",
                agencyId: "test-agency", rule: text(), receivedAt: Date(timeIntervalSince1970: 1_795_000_000), withheld: withheld)
            return (referral, context)
        }
    }

    @Test(arguments: ["text", "xml", "json", "form"])
    func everyPartRendersAsTheLibraryRendersIt(contentType: String) throws {
        // Not valid XML, JSON or a form: rendered through the compiled form and the library directly.
        TemplateContentType.registerAll()
        let template = try MustacheTemplate(
            string: "{{% CONTENT_TYPE: \(TemplateContentType(rawValue: contentType)!.pragmaName)}}" + Self.everyPart)
        let compiled = try #require(CompiledTemplate(template), "the template compiles")
        var differences = 0
        for (referral, context) in Self.referrals(count: 400, seed: 6962) {
            let library = template.render(TemplateNode.root(referral, context: context, recorder: nil))
            let rendered = compiled.render(referral, context: context)
            if rendered != library {
                differences += 1
                if differences == 1 { Issue.record("\(contentType): compiled\n\(rendered ?? "nil")\nlibrary\n\(library)") }
            }
        }
        #expect(differences == 0)
    }

    @Test func theShippedTemplatesRenderCompiledAndAsTheLibraryDoes() throws {
        for (file, contentType) in [("council-case.json.mustache", "json"), ("community-referral.xml.mustache", "xml")] {
            let adapter = try TemplateAdapter(
                setup: AdapterSetup(
                    options: [
                        "template": ConfigValue(.text("templates/" + file), line: 1, column: 1),
                        "content_type": ConfigValue(.text(contentType), line: 1, column: 1),
                    ], configDirectory: configDirectory, agencyId: "test-agency"))
            #expect(adapter.rendersCompiled, "\(file) renders without the library's lookups")
            for (referral, context) in Self.referrals(count: 200, seed: 9162) {
                #expect(try adapter.render(referral, context: context).body == adapter.renderThroughLibrary(referral, context: context))
            }
        }
    }

    @Test func whatItDoesNotModelIsLeftToTheLibrary() throws {
        // A transform on a name, and a level printed as a value: the library renders these.
        let transformed = try Self.adapter("{{uppercased(subject.familyName)}} {{#needs}}{{.}}{{/needs}}", contentType: "text")
        #expect(!transformed.rendersCompiled)
        #expect(
            String(decoding: try transformed.render(ExampleReferrals.complete, context: context).body, as: UTF8.self)
                == ExampleReferrals.complete.subject.familyName.uppercased() + " " + ExampleReferrals.complete.needs.joined())
        let level = try Self.adapter("{{#subject}}{{.}}{{/subject}}", contentType: "text")
        #expect(!level.rendersCompiled)
        #expect(
            try level.render(ExampleReferrals.complete, context: context).body
                == level.renderThroughLibrary(ExampleReferrals.complete, context: context))
    }

    @Test func aCompiledRenderThatMeetsSomethingUnmodelledDefersToTheLibrary() throws {
        TemplateContentType.registerAll()
        let template = try MustacheTemplate(string: "{{% CONTENT_TYPE: SWITCHBOARD_TEXT}}a{{#subject}}{{.}}{{/subject}}")
        let compiled = try #require(CompiledTemplate(template))
        #expect(compiled.render(ExampleReferrals.complete, context: context) == nil)
        #expect(!compiled.agrees(with: template))
    }
}
