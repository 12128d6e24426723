/// One problem with one field of a request body: where it is, as a JSON Pointer (RFC 6901), and
/// a sentence the sender can act on.
public struct FieldIssue: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The JSON Pointer to the field, for example `/subject/nhsNumber`; `""` is the whole body.
    public let pointer: String
    /// What is wrong and what a valid value looks like.
    public let detail: String
    /// For a YAML or text body (a rules file), where the problem is: 1-based line and column.
    public let line: Int?
    public let column: Int?
    /// What to do about it, when there is more to say than `detail`.
    public let hint: String?

    public init(pointer: String, detail: String, line: Int? = nil, column: Int? = nil, hint: String? = nil) {
        self.pointer = pointer
        self.detail = detail
        self.line = line
        self.column = column
        self.hint = hint
    }

    public var description: String { "\(pointer.isEmpty ? "(body)" : pointer): \(detail)" }
}

/// A body that is JSON but breaks the schema or a domain rule, with every problem found.
public struct ValidationFailure: Error, Sendable, Equatable {
    public let issues: [FieldIssue]
    public init(issues: [FieldIssue]) { self.issues = issues }
}

/// Escapes one reference token for a JSON Pointer (RFC 6901: `~` becomes `~0`, `/` becomes `~1`).
public func jsonPointer(_ parent: String, _ token: String) -> String {
    guard token.utf8.contains(where: { $0 == UInt8(ascii: "~") || $0 == UInt8(ascii: "/") }) else { return parent + "/" + token }
    var escaped = ""
    for character in token.unicodeScalars {
        switch character {
        case "~": escaped += "~0"
        case "/": escaped += "~1"
        default: escaped.unicodeScalars.append(character)
        }
    }
    return parent + "/" + escaped
}

/// Reads one JSON object field by field, collecting every problem instead of stopping at the first,
/// and reports members the schema does not know.
struct ObjectReader {
    let object: JSONObject
    let pointer: String
    /// The members asked for. A short array: an object has at most a few dozen names, and comparing
    /// small strings costs less than hashing each into a set.
    private(set) var known: [String] = []

    init(object: JSONObject, pointer: String) {
        self.object = object
        self.pointer = pointer
    }

    /// Starts reading `value` as an object, or records that it is not one.
    static func open(_ value: JSONValue, at pointer: String, issues: inout [FieldIssue]) -> ObjectReader? {
        guard case .object(let object) = value else {
            issues.append(FieldIssue(pointer: pointer, detail: "must be an object, not \(value.kindName)."))
            return nil
        }
        return ObjectReader(object: object, pointer: pointer)
    }

    func path(_ key: String) -> String { jsonPointer(pointer, key) }

    /// The member's value; a missing required member is recorded. `null` counts as missing.
    mutating func value(_ key: String, required: Bool, issues: inout [FieldIssue]) -> JSONValue? {
        known.append(key)
        switch object[key] {
        case .none:
            if required { issues.append(FieldIssue(pointer: path(key), detail: "is required.")) }
            return nil
        case .some(.null):
            issues.append(
                FieldIssue(pointer: path(key), detail: required ? "is required and cannot be null." : "cannot be null; leave the field out instead.")
            )
            return nil
        case .some(let value):
            return value
        }
    }

    /// A string member with its length checked in Unicode code points, as JSON Schema counts them.
    /// Control characters are refused; `freeText` members may keep tab, line feed and carriage return.
    mutating func string(
        _ key: String, required: Bool, minLength: Int = 1, maxLength: Int, freeText: Bool = false, issues: inout [FieldIssue]
    ) -> String? {
        guard let value = value(key, required: required, issues: &issues) else { return nil }
        return Self.string(value, at: path(key), minLength: minLength, maxLength: maxLength, freeText: freeText, issues: &issues)
    }

    static func string(
        _ value: JSONValue, at pointer: @autoclosure () -> String, minLength: Int = 1, maxLength: Int, freeText: Bool = false,
        issues: inout [FieldIssue]
    ) -> String? {
        guard case .string(let text) = value else {
            issues.append(FieldIssue(pointer: pointer(), detail: "must be a string, not \(value.kindName)."))
            return nil
        }
        if let control = TextCharacters.firstRefused(in: text, freeText: freeText) {
            issues.append(FieldIssue(pointer: pointer(), detail: TextCharacters.detail(control, freeText: freeText)))
            return nil
        }
        let length = text.unicodeScalars.count
        if length < minLength {
            issues.append(
                FieldIssue(pointer: pointer(), detail: minLength == 1 ? "must not be empty." : "must be at least \(minLength) characters long."))
            return nil
        }
        if length > maxLength {
            issues.append(FieldIssue(pointer: pointer(), detail: "must be at most \(maxLength) characters long (it has \(length))."))
            return nil
        }
        return text
    }

    mutating func bool(_ key: String, issues: inout [FieldIssue]) -> Bool? {
        guard let value = value(key, required: false, issues: &issues) else { return nil }
        guard case .bool(let flag) = value else {
            issues.append(FieldIssue(pointer: path(key), detail: "must be true or false, not \(value.kindName)."))
            return nil
        }
        return flag
    }

    /// A string member that must be one of a fixed set of codes.
    mutating func code<Code: RawRepresentable & CaseIterable>(
        _ key: String, as: Code.Type, required: Bool = true, issues: inout [FieldIssue]
    ) -> Code? where Code.RawValue == String {
        guard let text = string(key, required: required, maxLength: 64, issues: &issues) else { return nil }
        guard let code = Code(rawValue: text) else {
            let allowed = Code.allCases.map(\.rawValue).joined(separator: ", ")
            issues.append(FieldIssue(pointer: path(key), detail: "must be one of \(allowed); \"\(text)\" is not one of them."))
            return nil
        }
        return code
    }

    mutating func object(_ key: String, required: Bool, issues: inout [FieldIssue]) -> ObjectReader? {
        guard let value = value(key, required: required, issues: &issues) else { return nil }
        return Self.open(value, at: path(key), issues: &issues)
    }

    /// Records every member that was never asked for: the schema does not allow it.
    func rejectUnknownMembers(issues: inout [FieldIssue]) {
        for member in object.members where !known.contains(member.key) {
            issues.append(FieldIssue(pointer: path(member.key), detail: "is not a field of this object; remove it or check its spelling."))
        }
    }
}
