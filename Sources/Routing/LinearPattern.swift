/// A regular expression that runs in time linear in the text it reads: the pattern is compiled to
/// a small program and run as a Thompson NFA (every thread in step, each state at most once per
/// character), so no pattern can make a referral cost more than (pattern size × text length)
/// steps. `^(a+)+$`, which takes a backtracking engine seconds on 30 characters, is as cheap here
/// as `^a+$`.
///
/// The syntax is the common core of ICU, PCRE and JavaScript: literals, `.`, classes (`[a-z]`,
/// `[^0-9]`, `\d \w \s` and their capitals), groups (`(…)`, `(?:…)`), alternation, the
/// quantifiers `* + ? {n} {n,} {n,m}` (lazy forms read the same: only whether it matches counts),
/// anchors `^ $ \b \B`, and `(?i)` at the start for case-insensitive matching (character by
/// character, so `ß` does not match `SS` as ICU's full case folding would). A pattern matches
/// when it matches anywhere in the text, as ICU's `firstMatch` did. Backreferences, lookaround
/// and atomic groups need backtracking and are refused with a sentence saying so.
struct LinearPattern: Sendable {
    /// The most instructions a compiled pattern may have (bounded repeats are written out).
    static let maxProgram = 4_000

    struct SyntaxError: Error, Equatable {
        var message: String
    }

    enum Instruction: Sendable {
        case scalar(Unicode.Scalar)
        case set(CharacterSet)
        case any
        case split(Int, Int)
        case jump(Int)
        case assert(Assertion)
        case match
    }

    enum Assertion: Sendable {
        case start, end, wordBoundary, notWordBoundary
    }

    struct CharacterSet: Sendable {
        var items: [Item] = []
        var negated = false

        enum Item: Sendable {
            case range(UInt32, UInt32)
            case digit(Bool)
            case word(Bool)
            case space(Bool)
        }

        func contains(_ scalar: Unicode.Scalar, ignoringCase: Bool) -> Bool {
            var found = items.contains { $0.contains(scalar) }
            if !found, ignoringCase {
                found = LinearPattern.caseVariants(scalar).contains { variant in items.contains { $0.contains(variant) } }
            }
            return found != negated
        }
    }

    let program: [Instruction]
    let ignoresCase: Bool

    init(_ source: String) throws(SyntaxError) {
        var parser = PatternParser(source)
        let node = try parser.parse()
        ignoresCase = parser.ignoresCase
        var compiler = PatternCompiler()
        try compiler.emit(node)
        compiler.program.append(.match)
        program = compiler.program
    }

    /// True when the pattern matches somewhere in `text`.
    func matches(_ text: String) -> Bool {
        let scalars = Array(text.unicodeScalars)
        var current = ThreadList(capacity: program.count)
        var next = ThreadList(capacity: program.count)
        for position in 0...scalars.count {
            // Unanchored: a new thread starts at every position.
            if add(0, at: position, in: scalars, to: &current) { return true }
            guard position < scalars.count else { break }
            let scalar = scalars[position]
            next.clear()
            for pc in current.states {
                let consumes: Bool =
                    switch program[pc] {
                    case .scalar(let expected): expected == scalar || (ignoresCase && Self.caseVariants(scalar).contains(expected))
                    case .set(let set): set.contains(scalar, ignoringCase: ignoresCase)
                    case .any: scalar != "\n" && scalar != "\r"
                    default: false
                    }
                if consumes, add(pc + 1, at: position + 1, in: scalars, to: &next) { return true }
            }
            swap(&current, &next)
        }
        return false
    }

    /// Adds a thread and everything it reaches without reading; true when one of them matches.
    private func add(_ start: Int, at position: Int, in scalars: [Unicode.Scalar], to list: inout ThreadList) -> Bool {
        var stack = [start]
        while let pc = stack.popLast() {
            guard list.insert(pc) else { continue }
            switch program[pc] {
            case .match: return true
            case .jump(let target): stack.append(target)
            case .split(let first, let second):
                stack.append(second)
                stack.append(first)
            case .assert(let assertion):
                if holds(assertion, at: position, in: scalars) { stack.append(pc + 1) }
            case .scalar, .set, .any: break
            }
        }
        return false
    }

    private func holds(_ assertion: Assertion, at position: Int, in scalars: [Unicode.Scalar]) -> Bool {
        switch assertion {
        case .start: return position == 0
        // As ICU: the end, or before a final line break.
        case .end: return position == scalars.count || (position == scalars.count - 1 && scalars[position] == "\n")
        case .wordBoundary, .notWordBoundary:
            let before = position > 0 && Self.isWord(scalars[position - 1])
            let after = position < scalars.count && Self.isWord(scalars[position])
            return (before != after) == (assertion == .wordBoundary)
        }
    }

    static func isWord(_ scalar: Unicode.Scalar) -> Bool {
        let properties = scalar.properties
        return properties.isAlphabetic || properties.numericType == .decimal || properties.generalCategory == .connectorPunctuation
            || properties.isJoinControl || properties.generalCategory == .nonspacingMark
    }

    static func caseVariants(_ scalar: Unicode.Scalar) -> [Unicode.Scalar] {
        let properties = scalar.properties
        return [properties.lowercaseMapping, properties.uppercaseMapping].compactMap { mapped in
            let scalars = mapped.unicodeScalars
            return scalars.count == 1 ? scalars.first : nil
        }
    }
}

extension LinearPattern.CharacterSet.Item {
    func contains(_ scalar: Unicode.Scalar) -> Bool {
        switch self {
        case .range(let low, let high): return (low...high).contains(scalar.value)
        case .digit(let yes): return (scalar.properties.numericType == .decimal) == yes
        case .word(let yes): return LinearPattern.isWord(scalar) == yes
        case .space(let yes): return scalar.properties.isWhitespace == yes
        }
    }
}

/// The states of one step, each at most once, in the order they were added.
struct ThreadList {
    private var seen: [Bool]
    private(set) var states: [Int] = []

    init(capacity: Int) {
        seen = Array(repeating: false, count: capacity)
        states.reserveCapacity(capacity)
    }

    mutating func insert(_ state: Int) -> Bool {
        if seen[state] { return false }
        seen[state] = true
        states.append(state)
        return true
    }

    mutating func clear() {
        for state in states { seen[state] = false }
        states.removeAll(keepingCapacity: true)
    }
}
