import Foundation
import ReferralModel

/// The referral form, built from the referral model: one field per member a person fills in, named
/// by its JSON Pointer, so each problem intake reports lands beside its own field.
struct ReferralForm {
    enum Kind {
        case text, textarea, date, email, telephone
        case select([(String, String)])
        case radio([(String, String)])
        case checkboxes([(String, String)])
    }

    struct Field {
        var pointer: String
        var label: String
        var kind: Kind
        var hint: String?
        var required = false
        var autocomplete: String? = nil
    }

    struct Section {
        var legend: String
        var fields: [Field]
    }

    let sections: [Section]

    init(vocabulary: NeedsVocabulary, organisations: Set<String>?) {
        let organisationField: Field =
            if let organisations, !organisations.isEmpty {
                Field(
                    pointer: "/referrer/organisation", label: "Your organisation", kind: .select(organisations.sorted().map { ($0, $0) }),
                    hint: "The organisations your key may refer for.", required: true)
            } else {
                Field(
                    pointer: "/referrer/organisation", label: "Your organisation's code", kind: .text,
                    hint: "Its NHS ODS code, such as K84001 for a GP practice.", required: true)
            }
        let yesNo = [("", "Not known"), ("true", "Yes"), ("false", "No")]
        sections = [
            Section(
                legend: "About you",
                fields: [
                    organisationField,
                    Field(pointer: "/referrer/name", label: "Your name", kind: .text, hint: nil, required: true, autocomplete: "name"),
                    Field(
                        pointer: "/referrer/role", label: "Your role", kind: .text, hint: "For example: practice nurse.",
                        autocomplete: "organization-title"),
                    Field(pointer: "/referrer/phone", label: "Your phone number", kind: .telephone, hint: nil, autocomplete: "tel"),
                    Field(pointer: "/referrer/email", label: "Your email address", kind: .email, hint: nil, autocomplete: "email"),
                ]),
            Section(
                legend: "The person you are referring",
                fields: [
                    Field(pointer: "/subject/givenName", label: "Given name", kind: .text, hint: nil, required: true),
                    Field(pointer: "/subject/familyName", label: "Family name", kind: .text, hint: nil, required: true),
                    Field(pointer: "/subject/birthDate", label: "Date of birth", kind: .date, hint: nil, required: true),
                    Field(
                        pointer: "/subject/nhsNumber", label: "NHS number", kind: .text,
                        hint: "10 digits, such as 999 765 4323. Leave blank if you do not know it."),
                    Field(pointer: "/subject/address", label: "Address", kind: .textarea, hint: "Without the postcode."),
                    Field(pointer: "/subject/postcode", label: "Postcode", kind: .text, hint: "Such as OX1 2JD.", required: true),
                    Field(pointer: "/subject/phone", label: "Their phone number", kind: .telephone, hint: nil),
                    Field(pointer: "/subject/preferredLanguage", label: "Preferred language", kind: .text, hint: "Leave blank for English."),
                    Field(pointer: "/subject/interpreterNeeded", label: "Do they need an interpreter?", kind: .select(yesNo), hint: nil),
                ]),
            Section(
                legend: "What they need",
                fields: [
                    Field(
                        pointer: "/needs", label: "Needs",
                        kind: .checkboxes(vocabulary.codes.map { ($0, $0.replacingOccurrences(of: "-", with: " ")) }),
                        hint: "Tick every one that applies.", required: true),
                    Field(
                        pointer: "/urgency", label: "How urgent is it?",
                        kind: .radio(Urgency.allCases.map { ($0.rawValue, "\($0.rawValue): \($0.definition)") }),
                        hint: nil, required: true),
                    Field(
                        pointer: "/reason", label: "Why are you referring them?", kind: .textarea,
                        hint: "What is happening and what help would make a difference.", required: true),
                    Field(
                        pointer: "/safeguarding", label: "Is anyone at risk of harm?", kind: .select(yesNo),
                        hint: "Choose yes for a safeguarding concern."),
                    Field(
                        pointer: "/externalReference", label: "Your reference", kind: .text,
                        hint: "Your own reference for this referral, if you have one."),
                ]),
            Section(
                legend: "Consent",
                fields: [
                    Field(
                        pointer: "/consent/status", label: "Has the person agreed to this referral?",
                        kind: .radio([
                            ("given", "Yes, they agreed"), ("refused", "No, they refused"), ("not-required", "Consent is not required"),
                            ("best-interests", "They cannot decide; it is in their best interests"),
                        ]), hint: nil, required: true),
                    Field(
                        pointer: "/consent/lawfulBasis", label: "If they did not agree: the lawful basis for sharing",
                        kind: .select([("", "None")] + LawfulBasis.allCases.map { ($0.rawValue, $0.rawValue) }), hint: nil),
                    Field(pointer: "/consent/decisionMaker", label: "Who decided to share without consent", kind: .text, hint: nil),
                    Field(
                        pointer: "/consent/capacityAssessedBy", label: "For a best-interests decision: who assessed their capacity", kind: .text,
                        hint: nil),
                ]),
        ]
    }

    /// The referral as JSON from the submitted form: blank fields left out, so a missing one is
    /// reported as intake reports it.
    func json(_ form: ReferralAnswers) -> [UInt8] {
        var root: [String: Any] = [:]
        for section in sections {
            for field in section.fields {
                let value: Any?
                switch field.kind {
                case .checkboxes:
                    let values = form.all(field.pointer).filter { !$0.isEmpty }
                    value = values.isEmpty ? nil : values
                case .select(let options) where options.contains { $0.0 == "true" }:
                    value = form[field.pointer].flatMap { $0 == "true" ? true : $0 == "false" ? false : nil }
                default:
                    value = ConsoleForm.trimmed(form[field.pointer])
                }
                guard let value else { continue }
                Self.set(value, at: field.pointer.split(separator: "/").map(String.init), in: &root)
            }
        }
        let data = (try? JSONSerialization.data(withJSONObject: root, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Array(data)
    }

    private static func set(_ value: Any, at path: [String], in object: inout [String: Any]) {
        guard let first = path.first else { return }
        if path.count == 1 {
            object[first] = value
            return
        }
        var child = object[first] as? [String: Any] ?? [:]
        set(value, at: Array(path.dropFirst()), in: &child)
        object[first] = child
    }

    /// The sections as the template draws them, with the submitted values and each field's problems.
    /// - Returns: the sections, and the problems that belong to no field.
    func drawn(_ form: ReferralAnswers?, issues: [FieldIssue]) -> (sections: [ReferPage.Section], unplaced: [String]) {
        let pointers = sections.flatMap { $0.fields.map(\.pointer) }
        var placed: [String: [String]] = [:]
        var unplaced: [String] = []
        for issue in issues {
            // The field whose pointer is the issue's, or its nearest ancestor (/needs/2 → /needs).
            if let owner = pointers.filter({ issue.pointer == $0 || issue.pointer.hasPrefix($0 + "/") }).max(by: { $0.count < $1.count }) {
                placed[owner, default: []].append(issue.detail)
            } else {
                let parent = pointers.first { $0.hasPrefix(issue.pointer + "/") }
                if let parent, !issue.pointer.isEmpty {
                    placed[parent, default: []].append(issue.detail)
                } else {
                    unplaced.append("\(issue.pointer.isEmpty ? "The referral" : issue.pointer) \(issue.detail)")
                }
            }
        }
        let drawn = sections.map { section in
            ReferPage.Section(
                legend: section.legend,
                fields: section.fields.map { field in
                    let id = "f" + field.pointer.replacingOccurrences(of: "/", with: "-")
                    var drawn = ReferPage.Field(
                        name: field.pointer, id: id, label: field.label, required: field.required, autocomplete: field.autocomplete ?? "off",
                        value: form?[field.pointer] ?? "", problems: placed[field.pointer] ?? [], invalid: placed[field.pointer] != nil,
                        hint: field.hint)
                    let chosen = Set(form?.all(field.pointer) ?? [])
                    func options(_ list: [(String, String)]) -> [ReferPage.Option] {
                        list.enumerated().map { index, option in
                            .init(value: option.0, label: option.1, chosen: chosen.contains(option.0), id: "\(id)-\(index)")
                        }
                    }
                    switch field.kind {
                    case .text: drawn.input = "text"
                    case .email: drawn.input = "email"
                    case .telephone: drawn.input = "tel"
                    case .date: drawn.input = "date"
                    case .textarea: drawn.isTextarea = true
                    case .select(let list):
                        drawn.isSelect = true
                        drawn.options = options(list)
                    case .radio(let list):
                        drawn.isRadio = true
                        drawn.options = options(list)
                    case .checkboxes(let list):
                        drawn.isCheckboxes = true
                        drawn.options = options(list)
                    }
                    drawn.isInput = drawn.input != nil
                    return drawn
                })
        }
        return (drawn, unplaced)
    }
}

/// The referral form's page: its sections and fields as drawn, with what was wrong.
struct ReferPage: Sendable {
    struct Option: Sendable {
        var value: String
        var label: String
        var chosen: Bool
        var id: String
    }

    struct Field: Sendable {
        var name: String
        var id: String
        var label: String
        var required: Bool
        var autocomplete: String
        var value: String
        var problems: [String]
        var invalid: Bool
        var hint: String?
        /// The input's type, for the fields that are one line.
        var input: String? = nil
        var isInput = false
        var isTextarea = false
        var isSelect = false
        var isRadio = false
        var isCheckboxes = false
        var options: [Option] = []
    }

    struct Section: Sendable {
        var legend: String
        var fields: [Field]
    }

    var sections: [Section]
    var unplaced: [String]
    /// One submission of this form makes one referral, however often it is sent.
    var submission: String
    var problemCount: String?
}
