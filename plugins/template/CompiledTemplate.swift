import AdapterKit
import Foundation
import Mustache
import ReferralModel

/// A value a template can name: what the Mustache library is handed as `Any`, typed.
enum TemplateValue {
    case text(String)
    case flag(Bool)
    case list([String])
    case number(Int)
    /// A level of the context (`subject`, `referrer`, `consent`).
    case node(TemplateNode.Level)
}

/// A template rendered without the Mustache library's dynamic lookups: its parsed tokens, read once
/// when the configuration loads, rendered against the referral's typed values by the library's own
/// rules (names looked up through enclosing sections, strings and levels opening a section once,
/// lists once per item with `first()`, `last()`, `index()`, `even()` and `odd()`, yes/no facts
/// choosing).
///
/// Only templates made of text, variables, sections, inverted sections, comments and the content
/// type compile; anything else (partials, blocks, transforms such as `uppercased(...)`) is left to
/// the library, as is any render that meets a case this does not model. The adapter also renders a
/// set of probe referrals both ways when it loads and keeps this only if every output is the same,
/// byte for byte: the library stays the definition of what a template means.
///
/// A render costs about a tenth of the library's (`bench/deliveries`), which was most of a delivery
/// attempt's CPU.
struct CompiledTemplate: Sendable {
    indirect enum Part: Sendable {
        case text(String)
        case variable(Name, escaped: Bool)
        case section(Name, [Part], inverted: Bool)
        case escaping(any MustacheContentType)
    }

    enum Name: Sendable, Equatable {
        /// `.`: the innermost section's value.
        case current
        /// `a.b`: `a` looked up from the innermost section outwards, then `b` within it.
        case path([String])
        /// `.a.b`: looked up in the innermost section's value only.
        case relative([String])
        /// `first()`, `last()`, `index()`, `even()`, `odd()`: where a list's item is.
        case position(String)
    }

    let parts: [Part]

    /// The template's tokens as parts, or nil when it uses anything beyond what this models.
    init?(_ template: MustacheTemplate) {
        // The adapter begins every template with its content type, so nothing renders before it.
        guard let parts = Self.parts(of: template), case .escaping = parts.first else { return nil }
        self.parts = parts
    }

    /// Referrals and contexts that open and close every kind of section a template can have: each
    /// example referral as it is, with no needs, one and three, with every yes/no fact yes, no and
    /// not asked, each with nothing withheld and with the reason and referrer's name withheld.
    static let probes: [(Referral, DeliveryContext)] = {
        var referrals: [Referral] = []
        for (_, example) in ExampleReferrals.all {
            referrals.append(example)
            for needs in [[], ["falls-prevention"], ["falls-prevention", "reablement", "carer-support"]] {
                var referral = example
                referral.needs = needs
                referrals.append(referral)
            }
            for fact in [true, false, nil] {
                var referral = example
                referral.safeguarding = fact
                referral.subject.interpreterNeeded = fact
                referrals.append(referral)
            }
        }
        let contexts = [Set<ReferralField>(), [.reason, .referrerName]].map { withheld in
            DeliveryContext(
                deliveryId: "0196f0c0-0000-7000-8000-00000000000a", referralId: "0196f0c0-0000-7000-8000-00000000000b",
                agencyId: "probe", rule: "probe", receivedAt: Date(timeIntervalSince1970: 1_795_000_000), withheld: withheld)
        }
        return referrals.flatMap { referral in contexts.map { (referral, $0) } }
    }()

    /// Whether this renders every probe exactly as the library renders `template`.
    func agrees(with template: MustacheTemplate) -> Bool {
        Self.probes.allSatisfy { referral, context in
            render(referral, context: context) == template.render(TemplateNode.root(referral, context: context, recorder: nil))
        }
    }

    private static func parts(of template: Any) -> [Part]? {
        guard let tokens = Mirror(reflecting: template).children.first(where: { $0.label == "tokens" })?.value as? [Any] else { return nil }
        var parts: [Part] = []
        for token in tokens {
            let mirror = Mirror(reflecting: token)
            guard mirror.displayStyle == .enum, let payload = mirror.children.first, let kind = payload.label else { return nil }
            let fields = Dictionary(
                Mirror(reflecting: payload.value).children.compactMap { child in child.label.map { ($0, child.value) } },
                uniquingKeysWith: { first, _ in first })
            switch kind {
            case "text":
                guard let text = payload.value as? String else { return nil }
                parts.append(.text(text))
            case "variable", "unescapedVariable":
                guard let name = name(fields) else { return nil }
                parts.append(.variable(name, escaped: kind == "variable"))
            case "section", "invertedSection":
                guard let name = name(fields), let inner = fields["template"], let innerParts = Self.parts(of: inner) else { return nil }
                parts.append(.section(name, innerParts, inverted: kind == "invertedSection"))
            case "contentType":
                guard let escaping = payload.value as? any MustacheContentType else { return nil }
                parts.append(.escaping(escaping))
            default:
                return nil
            }
        }
        return parts
    }

    private static func name(_ fields: [String: Any]) -> Name? {
        guard let name = fields["name"] as? String, let transforms = fields["transforms"] as? [String] else { return nil }
        if !transforms.isEmpty {
            guard name.isEmpty, transforms.count == 1, ["first", "last", "index", "even", "odd"].contains(transforms[0]) else { return nil }
            return .position(transforms[0])
        }
        if name == "." { return .current }
        let names = name.split(separator: ".").map(String.init)
        if name.first == "." { return .relative(names) }
        return names.isEmpty ? .current : .path(names)
    }

    /// Where a list's item is, while its section renders.
    private struct Position {
        var first: Bool
        var last: Bool
        var index: Int
    }

    /// Thrown where the library would do something this does not model: the caller renders with the library.
    struct Unmodelled: Error {}

    private struct Renderer {
        let referral: Referral
        let context: DeliveryContext

        func render(_ parts: [Part], stack: [TemplateValue], position: Position?, escaping: any MustacheContentType, into output: inout String)
            throws(Unmodelled)
        {
            var escaping = escaping
            for part in parts {
                switch part {
                case .text(let text):
                    output += text
                case .escaping(let contentType):
                    escaping = contentType
                case .variable(let name, let escaped):
                    guard let value = lookUp(name, stack: stack, position: position) else { continue }
                    let text: String
                    switch value {
                    case .text(let string): text = string
                    case .flag(let flag): text = flag ? "true" : "false"
                    case .number(let number): text = String(number)
                    case .list(let list): text = String(describing: list)
                    case .node: throw Unmodelled()
                    }
                    output += escaped ? escaping.escapeText(text) : text
                case .section(let name, let inner, let inverted):
                    let value = lookUp(name, stack: stack, position: position)
                    switch (value, inverted) {
                    case (.list(let list), false):
                        for (index, item) in list.enumerated() {
                            try render(
                                inner, stack: stack + [.text(item)],
                                position: Position(first: index == 0, last: index == list.count - 1, index: index),
                                escaping: escaping, into: &output)
                        }
                    case (.list(let list), true):
                        if list.isEmpty { try render(inner, stack: stack + [.list(list)], position: nil, escaping: escaping, into: &output) }
                    case (.flag(let flag), _):
                        if flag != inverted { try render(inner, stack: stack, position: position, escaping: escaping, into: &output) }
                    case (.some(let value), false):
                        try render(inner, stack: stack + [value], position: nil, escaping: escaping, into: &output)
                    case (.some, true):
                        break
                    case (.none, false):
                        break
                    case (.none, true):
                        try render(inner, stack: stack, position: position, escaping: escaping, into: &output)
                    }
                }
            }
        }

        func lookUp(_ name: Name, stack: [TemplateValue], position: Position?) -> TemplateValue? {
            switch name {
            case .current:
                return stack.last
            case .position(let which):
                guard let position else { return nil }
                return switch which {
                case "first": .flag(position.first)
                case "last": .flag(position.last)
                case "index": .number(position.index)
                case "even": .flag(position.index & 1 == 0)
                default: .flag(position.index & 1 == 1)
                }
            case .relative(let names):
                guard let last = stack.last else { return nil }
                return within(last, names[...])
            case .path(let names):
                for value in stack.reversed() {
                    if let found = child(names[0], of: value) { return within(found, names.dropFirst()) }
                }
                return nil
            }
        }

        private func within(_ value: TemplateValue, _ names: ArraySlice<String>) -> TemplateValue? {
            var value = value
            for name in names {
                guard let next = child(name, of: value) else { return nil }
                value = next
            }
            return value
        }

        /// Only the context's levels have named children: a string, a list, a number or a yes/no has none.
        private func child(_ name: String, of value: TemplateValue) -> TemplateValue? {
            guard case .node(let level) = value else { return nil }
            return TemplateNode.value(named: name, level: level, referral: referral, context: context)
        }
    }

    /// The rendered text, or nil where the library must render it.
    func render(_ referral: Referral, context: DeliveryContext) -> String? {
        var output = ""
        do {
            try Renderer(referral: referral, context: context).render(
                parts, stack: [.node(.root)], position: nil, escaping: PlainText(), into: &output)
        } catch {
            return nil
        }
        return output
    }
}
