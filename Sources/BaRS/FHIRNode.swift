import Foundation
import ReferralModel

/// A value inside a FHIR resource with the FHIRPath-style expression that names it
/// (`Bundle.entry[5].resource.identifier[0].value`), so every problem found can say where it is.
public struct FHIRNode: Sendable {
    public let value: JSONValue
    public let path: String

    public init(_ value: JSONValue, path: String) {
        self.value = value
        self.path = path
    }

    /// The member `key` of an object, or nil when this is not an object or has no such member.
    public subscript(key: String) -> FHIRNode? {
        guard case .object(let object) = value, let member = object[key], member != .null else { return nil }
        return FHIRNode(member, path: "\(path).\(key)")
    }

    /// The elements of an array (a FHIR repeating element), each with its index; a single value
    /// counts as one element; nothing is none.
    public var elements: [FHIRNode] {
        switch value {
        case .array(let items): items.enumerated().map { FHIRNode($1, path: "\(path)[\($0)]") }
        case .null: []
        default: [self]
        }
    }

    /// The elements of the member `key` (empty when it is absent).
    public func all(_ key: String) -> [FHIRNode] { self[key]?.elements ?? [] }

    public var string: String? {
        if case .string(let text) = value { return text }
        return nil
    }

    public var bool: Bool? {
        if case .bool(let flag) = value { return flag }
        return nil
    }

    /// A member's text, trimmed; nil when absent, empty or not a string.
    public func text(_ key: String) -> String? {
        guard let text = self[key]?.string?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty else { return nil }
        return text
    }

    /// The codings of a CodeableConcept (or a bare Coding), with their paths.
    public var codings: [(coding: FHIRCoding, path: String)] {
        let list = self["coding"]?.elements ?? (self["code"] != nil && self["system"] != nil ? [self] : [])
        return list.compactMap { node in
            guard let code = node.text("code") else { return nil }
            return (FHIRCoding(system: node.text("system") ?? "", code: code, display: node.text("display")), node.path)
        }
    }
}

/// A FHIR coding as a message carries it.
public struct FHIRCoding: Sendable, Hashable {
    public var system: String
    public var code: String
    public var display: String?

    public init(system: String, code: String, display: String? = nil) {
        self.system = system
        self.code = code
        self.display = display
    }
}

/// A message Bundle's entries, found by the references other resources make to them.
public struct FHIRBundle: Sendable {
    public let root: FHIRNode
    public let entries: [(fullUrl: String?, resource: FHIRNode)]

    public init(_ root: FHIRNode) {
        self.root = root
        entries = root.all("entry").compactMap { entry in
            guard let resource = entry["resource"] else { return nil }
            return (entry.text("fullUrl"), resource)
        }
    }

    /// The resource a reference names: by its entry's `fullUrl`, or `Type/id` (also with a base URL
    /// before it), or a bare id (as some senders write). Nil when the Bundle does not hold it.
    public func resolve(_ reference: FHIRNode?) -> FHIRNode? {
        guard let target = reference?.text("reference") else { return nil }
        if let entry = entries.first(where: { $0.fullUrl == target }) { return entry.resource }
        let parts = target.split(separator: "/").map(String.init)
        let id = parts.last ?? target
        let type = parts.count >= 2 ? parts[parts.count - 2] : nil
        return entries.first { entry in
            entry.resource.text("id") == id && (type == nil || entry.resource.text("resourceType") == type)
                || (type == nil && entry.fullUrl == "urn:uuid:\(id)")
        }?.resource
    }

    /// Every resource of one type.
    public func resources(_ type: String) -> [FHIRNode] {
        entries.map(\.resource).filter { $0.text("resourceType") == type }
    }
}
