import Settings
import Yams

/// What a new rules text changes, for an administrator reading `rules diff` and for the audit
/// record of every apply: which rules by id were added, removed or changed, whether their order,
/// the fallback or the bank holidays changed, and the text as a unified diff.
///
/// It reads both texts as YAML only, so it also describes a text that does not validate.
public struct RulesChange: Sendable, Equatable {
    public var added: [String] = []
    public var removed: [String] = []
    /// Rules whose `when`, targets, `stop` or description differ.
    public var changed: [String] = []
    /// True when the rules both texts share are in another order (order decides `stop`).
    public var reordered = false
    public var fallback: (from: String, to: String)?
    public var holidaysAdded: [String] = []
    public var holidaysRemoved: [String] = []
    /// The texts line by line, unified format with three lines of context; empty when equal.
    public var lineDiff: String

    /// What the entries are called in the summary: `rules`, or `agencies` for agencies.yaml.
    public var noun = "rules"

    /// - Parameter list: the top-level list whose entries (by `id`) are compared: `rules` in
    ///   rules.yaml, `agencies` in agencies.yaml.
    public init(from old: String, to new: String, oldName: String = "live", newName: String = "new", list: String = "rules") {
        noun = list
        lineDiff = Self.unifiedDiff(old, new, oldName: oldName, newName: newName)
        let before = Outline(old, list: list)
        let after = Outline(new, list: list)
        added = after.order.filter { before.rules[$0] == nil }
        removed = before.order.filter { after.rules[$0] == nil }
        changed = after.order.filter { id in before.rules[id].map { $0 != after.rules[id] } ?? false }
        reordered = before.order.filter { after.rules[$0] != nil } != after.order.filter { before.rules[$0] != nil }
        if before.fallback != after.fallback { fallback = (before.fallback ?? "none", after.fallback ?? "none") }
        holidaysAdded = after.holidays.filter { !before.holidays.contains($0) }
        holidaysRemoved = before.holidays.filter { !after.holidays.contains($0) }
    }

    /// True when the texts are the same, byte for byte.
    public var isEmpty: Bool { lineDiff.isEmpty }

    /// One line for the audit trail and the history: ids and dates only.
    public var summary: String {
        var parts: [String] = []
        if !added.isEmpty { parts.append("\(noun) added: " + added.joined(separator: ", ")) }
        if !removed.isEmpty { parts.append("removed: " + removed.joined(separator: ", ")) }
        if !changed.isEmpty { parts.append("changed: " + changed.joined(separator: ", ")) }
        if reordered { parts.append("order changed") }
        if let fallback { parts.append("fallback \(fallback.from) -> \(fallback.to)") }
        if !holidaysAdded.isEmpty { parts.append("bank holidays added: " + holidaysAdded.joined(separator: ", ")) }
        if !holidaysRemoved.isEmpty { parts.append("bank holidays removed: " + holidaysRemoved.joined(separator: ", ")) }
        if parts.isEmpty { return isEmpty ? "no change" : "comments or layout only; no \(noun == "rules" ? "rule" : "agency") changed" }
        return parts.joined(separator: "; ")
    }

    public static func == (lhs: RulesChange, rhs: RulesChange) -> Bool {
        lhs.added == rhs.added && lhs.removed == rhs.removed && lhs.changed == rhs.changed && lhs.reordered == rhs.reordered
            && lhs.fallback?.from == rhs.fallback?.from && lhs.fallback?.to == rhs.fallback?.to
            && lhs.holidaysAdded == rhs.holidaysAdded && lhs.holidaysRemoved == rhs.holidaysRemoved && lhs.lineDiff == rhs.lineDiff
    }

    /// The parts of a rules text a change is described by, each rule as a canonical string so
    /// that layout and comments do not count as a change.
    private struct Outline {
        var order: [String] = []
        var rules: [String: String] = [:]
        var fallback: String?
        var holidays: [String] = []

        init(_ text: String, list key: String) {
            var ignored: [ConfigIssue] = []
            guard case .mapping(let top)? = ConfigReader.composeBounded(text, issues: &ignored, file: "") else { return }
            fallback = top["fallback"]?.string
            if case .sequence(let list)? = top["bank_holidays"] { holidays = list.compactMap(\.string) }
            guard case .sequence(let list)? = top[key] else { return }
            for (position, node) in list.enumerated() {
                guard case .mapping(let rule) = node else { continue }
                let id = rule["id"]?.string ?? "#\(position + 1)"
                if rules[id] == nil { order.append(id) }
                rules[id] = Self.canonical(node)
            }
        }

        static func canonical(_ node: Node) -> String {
            switch node {
            case .scalar(let scalar): return "\"" + scalar.string + "\""
            case .sequence(let list): return "[" + list.map(canonical).joined(separator: ",") + "]"
            case .mapping(let mapping):
                let entries = mapping.map { (key: canonical($0.key), value: canonical($0.value)) }.sorted { $0.key < $1.key }
                return "{" + entries.map { "\($0.key):\($0.value)" }.joined(separator: ",") + "}"
            case .alias: return "*"
            }
        }
    }

    /// A unified diff of two texts by line.
    static func unifiedDiff(_ old: String, _ new: String, oldName: String, newName: String, context: Int = 3) -> String {
        guard old != new else { return "" }
        let before = old.split(separator: "\n", omittingEmptySubsequences: false)
        let after = new.split(separator: "\n", omittingEmptySubsequences: false)
        let difference = after.difference(from: before)
        var removedLines = Set<Int>()
        var insertedLines = Set<Int>()
        for change in difference {
            switch change {
            case .remove(let offset, _, _): removedLines.insert(offset)
            case .insert(let offset, _, _): insertedLines.insert(offset)
            }
        }
        // The edit script: each step with the old and new line numbers it stands at.
        enum Kind { case same, removed, inserted }
        var steps: [(kind: Kind, old: Int, new: Int)] = []
        var i = 0
        var j = 0
        while i < before.count || j < after.count {
            if i < before.count, removedLines.contains(i) {
                steps.append((.removed, i, j))
                i += 1
            } else if j < after.count, insertedLines.contains(j) {
                steps.append((.inserted, i, j))
                j += 1
            } else {
                steps.append((.same, i, j))
                i += 1
                j += 1
            }
        }
        // Hunks: each change with its context, overlapping ones merged.
        var hunks: [ClosedRange<Int>] = []
        for (index, step) in steps.enumerated() where step.kind != .same {
            let range = max(0, index - context)...min(steps.count - 1, index + context)
            if let last = hunks.last, range.lowerBound <= last.upperBound + 1 {
                hunks[hunks.count - 1] = last.lowerBound...range.upperBound
            } else {
                hunks.append(range)
            }
        }
        var output = "--- \(oldName)\n+++ \(newName)\n"
        for hunk in hunks {
            let part = steps[hunk]
            let oldCount = part.filter { $0.kind != .inserted }.count
            let newCount = part.filter { $0.kind != .removed }.count
            let first = part.first!
            output += "@@ -\(first.old + (oldCount > 0 ? 1 : 0)),\(oldCount) +\(first.new + (newCount > 0 ? 1 : 0)),\(newCount) @@\n"
            for step in part {
                switch step.kind {
                case .same: output += " " + before[step.old] + "\n"
                case .removed: output += "-" + before[step.old] + "\n"
                case .inserted: output += "+" + after[step.new] + "\n"
                }
            }
        }
        return output
    }
}
