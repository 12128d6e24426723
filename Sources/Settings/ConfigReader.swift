import Foundation
import ReferralModel
import Yams

/// Reads a YAML file as nodes that remember their line and column, and collects problems.
public final class ConfigReader {
    public let file: String
    public internal(set) var issues: [ConfigIssue] = []
    /// Each node's JSON Pointer, by its position and kind: a mapping and its first key start at
    /// the same place, so the kind tells them apart.
    private var paths: [NodePosition: String] = [:]

    private struct NodePosition: Hashable {
        var line: Int
        var column: Int
        var kind: UInt8

        init?(_ node: Node) {
            guard let mark = node.mark else { return nil }
            line = mark.line
            column = mark.column
            kind =
                switch node {
                case .scalar: 0
                case .mapping: 1
                case .sequence: 2
                case .alias: 3
                }
        }
    }

    public init(file: String) { self.file = file }

    private func indexPaths(_ node: Node, _ path: String) {
        if let position = NodePosition(node), paths[position] == nil { paths[position] = path }
        switch node {
        case .mapping(let mapping):
            for (key, value) in mapping {
                let child = jsonPointer(path, key.string ?? "")
                if let position = NodePosition(key), paths[position] == nil { paths[position] = child }
                indexPaths(value, child)
            }
        case .sequence(let sequence):
            for (offset, item) in sequence.enumerated() { indexPaths(item, path + "/\(offset)") }
        default:
            break
        }
    }

    /// More nodes than any real configuration has (10,000 rules come to about 150,000). YAML aliases
    /// share nodes, so a small document can stand for billions ("billion laughs"): every walk of
    /// the tree would expand them. Such a document is refused before anything walks it.
    public static let maximumNodes = 2_000_000

    /// Parses `text`; a YAML syntax error becomes an issue and the result is nil.
    public func compose(_ text: String) -> Node? {
        guard let node = Self.composeBounded(text, issues: &issues, file: file) else { return nil }
        indexPaths(node, "")
        return node
    }

    /// Parses `text` into nodes, refusing a document whose aliases expand it past `maximumNodes`.
    public static func composeBounded(_ text: String, issues: inout [ConfigIssue], file: String) -> Node? {
        do {
            guard let node = try Yams.compose(yaml: text) else {
                issues.append(ConfigIssue(file: file, line: 1, column: 1, message: "the file is empty"))
                return nil
            }
            var budget = maximumNodes
            guard withinBudget(node, &budget) else {
                issues.append(
                    ConfigIssue(
                        file: file, line: 1, column: 1, message: "the document expands to more than \(maximumNodes) values",
                        hint: "YAML anchors and aliases (&name, *name) that repeat large parts are not needed in rules; write each rule out"))
                return nil
            }
            return node
        } catch let error as YamlError {
            issues.append(Self.issue(from: error, file: file))
            return nil
        } catch {
            issues.append(ConfigIssue(file: file, line: 1, column: 1, message: "cannot read YAML: \(error)"))
            return nil
        }
    }

    /// Counts nodes down from `budget`, stopping as soon as it runs out.
    private static func withinBudget(_ node: Node, _ budget: inout Int) -> Bool {
        budget -= 1
        guard budget >= 0 else { return false }
        switch node {
        case .mapping(let mapping):
            for (key, value) in mapping {
                guard withinBudget(key, &budget), withinBudget(value, &budget) else { return false }
            }
        case .sequence(let sequence):
            for item in sequence where !withinBudget(item, &budget) { return false }
        default:
            break
        }
        return true
    }

    static func issue(from error: YamlError, file: String) -> ConfigIssue {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _):
            return ConfigIssue(
                file: file, line: mark.line, column: mark.column,
                message: "YAML syntax: \(problem)\(context.map { " \($0.text)" } ?? "")",
                hint: "check indentation and quoting on this line and the one before")
        default:
            return ConfigIssue(file: file, line: 1, column: 1, message: "YAML: \(error)")
        }
    }

    public func fail(_ node: Node?, _ message: String, hint: String? = nil) {
        let mark = node?.mark
        let path = node.flatMap(NodePosition.init).flatMap { paths[$0] }
        issues.append(ConfigIssue(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1, message: message, hint: hint, path: path))
    }

    /// A mapping's entries by key, reporting keys outside `allowed` and missing `required` keys.
    public func mapping(
        _ node: Node?, _ what: String, allowed: Set<String>, required: Set<String> = []
    ) -> [String: Node]? {
        guard let node else { return nil }
        guard case .mapping(let mapping) = node else {
            fail(node, "\(what) must be a mapping of keys to values")
            return nil
        }
        var entries: [String: Node] = [:]
        for (key, value) in mapping {
            guard let name = key.string else {
                fail(key, "keys in \(what) must be plain words")
                continue
            }
            if !allowed.contains(name) {
                let close = allowed.filter { Self.closeEnough(name, $0) }.sorted().first
                fail(
                    key, "unknown key '\(name)' in \(what)",
                    hint: close.map { "did you mean '\($0)'?" } ?? "allowed keys: \(allowed.sorted().joined(separator: ", "))")
                continue
            }
            if entries[name] != nil { fail(key, "'\(name)' appears twice in \(what)") }
            entries[name] = value
        }
        for name in required.sorted() where entries[name] == nil {
            fail(node, "\(what) is missing '\(name)'")
        }
        return entries
    }

    public func sequence(_ node: Node?, _ what: String) -> [Node]? {
        guard let node else { return nil }
        guard case .sequence(let sequence) = node else {
            fail(node, "\(what) must be a list")
            return nil
        }
        return Array(sequence)
    }

    public func string(_ node: Node?, _ what: String) -> String? {
        guard let node else { return nil }
        guard case .scalar(let scalar) = node, node.null == nil || scalar.style != .plain else {
            fail(node, "\(what) must be a text value")
            return nil
        }
        if scalar.string.isEmpty {
            fail(node, "\(what) must not be empty")
            return nil
        }
        return scalar.string
    }

    public func strings(_ node: Node?, _ what: String) -> [String]? {
        guard let node else { return nil }
        if case .scalar = node, let single = string(node, what) { return [single] }
        guard let items = sequence(node, what) else { return nil }
        let values = items.compactMap { string($0, "each entry of \(what)") }
        return values.count == items.count ? values : nil
    }

    public func integer(_ node: Node?, _ what: String, range: ClosedRange<Int>) -> Int? {
        guard let node else { return nil }
        guard case .scalar = node, let value = node.int else {
            fail(node, "\(what) must be a whole number")
            return nil
        }
        guard range.contains(value) else {
            fail(node, "\(what) must be between \(range.lowerBound) and \(range.upperBound), not \(value)")
            return nil
        }
        return value
    }

    public func number(_ node: Node?, _ what: String, range: ClosedRange<Double>) -> Double? {
        guard let node else { return nil }
        guard case .scalar = node, let value = node.float else {
            fail(node, "\(what) must be a number")
            return nil
        }
        guard range.contains(value) else {
            fail(node, "\(what) must be between \(range.lowerBound) and \(range.upperBound), not \(value)")
            return nil
        }
        return value
    }

    public func bool(_ node: Node?, _ what: String) -> Bool? {
        guard let node else { return nil }
        guard case .scalar = node, let value = node.bool else {
            fail(node, "\(what) must be true or false")
            return nil
        }
        return value
    }

    /// Whether two words differ by at most two edits: enough to suggest a misspelt key.
    static func closeEnough(_ a: String, _ b: String) -> Bool {
        let a = Array(a)
        let b = Array(b)
        guard abs(a.count - b.count) <= 2 else { return false }
        var previous = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(b.count, 1) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count] <= 2
    }
}

/// Reads a configuration file's text, or records why it cannot.
public func readFile(_ path: String, reader: ConfigReader) -> String? {
    do {
        return try String(contentsOfFile: path, encoding: .utf8)
    } catch {
        reader.issues.append(
            ConfigIssue(file: path, line: 1, column: 1, message: "cannot read the file", hint: "check the path and its permissions"))
        return nil
    }
}
