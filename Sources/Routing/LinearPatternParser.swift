/// A parsed pattern, before it is compiled.
indirect enum PatternNode {
    case empty
    case scalar(Unicode.Scalar)
    case set(LinearPattern.CharacterSet)
    case any
    case assert(LinearPattern.Assertion)
    case concat([PatternNode])
    case alternate([PatternNode])
    case repeated(PatternNode, min: Int, max: Int?)
}

/// Reads the syntax `LinearPattern` documents; anything else is a `SyntaxError` in plain words.
struct PatternParser {
    typealias SyntaxError = LinearPattern.SyntaxError
    static let maxRepeat = 1_000
    /// How deep groups may nest: the parser (and the compiler after it) recurse once a level, so a
    /// pattern of thousands of '(' would otherwise overflow the stack (found by fuzzing).
    static let maxDepth = 32
    private let scalars: [Unicode.Scalar]
    private var index = 0
    private var depth = 0
    private(set) var ignoresCase = false

    init(_ source: String) {
        scalars = Array(source.unicodeScalars)
    }

    mutating func parse() throws(SyntaxError) -> PatternNode {
        if scalars.starts(with: Array("(?i)".unicodeScalars)) {
            ignoresCase = true
            index = 4
        }
        let node = try alternation()
        if index < scalars.count { throw SyntaxError(message: "it has a ')' with no '(' to close") }
        return node
    }

    private var peek: Unicode.Scalar? { index < scalars.count ? scalars[index] : nil }

    private func upcoming(_ text: String) -> Bool {
        scalars[index...].starts(with: Array(text.unicodeScalars))
    }

    private mutating func alternation() throws(SyntaxError) -> PatternNode {
        var branches = [try sequence()]
        while peek == "|" {
            index += 1
            branches.append(try sequence())
        }
        return branches.count == 1 ? branches[0] : .alternate(branches)
    }

    private mutating func sequence() throws(SyntaxError) -> PatternNode {
        var items: [PatternNode] = []
        while let scalar = peek, scalar != "|", scalar != ")" {
            var atom = try self.atom()
            if let (min, max) = try quantifier() {
                if case .assert = atom { throw SyntaxError(message: "an anchor such as ^, $ or \\b cannot be repeated") }
                atom = .repeated(atom, min: min, max: max)
                if try quantifier() != nil { throw SyntaxError(message: "a quantifier cannot follow another (such as a** or a{2}+)") }
            }
            items.append(atom)
        }
        return items.isEmpty ? .empty : items.count == 1 ? items[0] : .concat(items)
    }

    private mutating func quantifier() throws(SyntaxError) -> (Int, Int?)? {
        let bounds: (Int, Int?)
        switch peek {
        case "*": bounds = (0, nil)
        case "+": bounds = (1, nil)
        case "?": bounds = (0, 1)
        case "{": return try counted()
        default: return nil
        }
        index += 1
        try skipLazy()
        return bounds
    }

    /// `{n}`, `{n,}` or `{n,m}`.
    private mutating func counted() throws(SyntaxError) -> (Int, Int?) {
        index += 1
        let low = number()
        var high: Int? = low
        if peek == "," {
            index += 1
            high = number()
        }
        guard peek == "}", let low else {
            throw SyntaxError(message: "a '{' must start a repeat such as {2}, {2,} or {2,5}; write \\{ for the character")
        }
        index += 1
        guard low <= Self.maxRepeat, (high ?? low) <= Self.maxRepeat else {
            throw SyntaxError(message: "a repeat may count to at most \(Self.maxRepeat)")
        }
        if let high, high < low { throw SyntaxError(message: "the repeat {\(low),\(high)} counts down; write the smaller number first") }
        try skipLazy()
        return (low, high)
    }

    private mutating func skipLazy() throws(SyntaxError) {
        if peek == "?" { index += 1 }
        if peek == "+" { throw SyntaxError(message: "possessive quantifiers (such as a*+) are not supported; drop the final +") }
    }

    private mutating func number() -> Int? {
        var value: Int?
        while let scalar = peek, let digit = Int(String(scalar)), scalar.isASCII {
            value = min((value ?? 0) * 10 + digit, 1_000_000)
            index += 1
        }
        return value
    }

    private mutating func atom() throws(SyntaxError) -> PatternNode {
        guard let scalar = peek else { return .empty }
        index += 1
        switch scalar {
        case "(": return try group()
        case "[": return .set(try characterClass())
        case ".": return .any
        case "^": return .assert(.start)
        case "$": return .assert(.end)
        case "\\": return try escape()
        case "*", "+", "?", "{": throw SyntaxError(message: "'\(scalar)' has nothing before it to repeat; write \\\(scalar) for the character")
        default: return .scalar(scalar)
        }
    }

    private mutating func group() throws(SyntaxError) -> PatternNode {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { throw SyntaxError(message: "its groups are nested more than \(Self.maxDepth) deep") }
        if peek == "?" {
            if upcoming("?:") {
                index += 2
            } else if upcoming("?=") || upcoming("?!") || upcoming("?<=") || upcoming("?<!") {
                throw SyntaxError(message: "lookahead and lookbehind ((?=, (?!, (?<=, (?<!) are not supported: they need a backtracking engine")
            } else if upcoming("?>") {
                throw SyntaxError(message: "atomic groups (?>…) are not supported")
            } else if upcoming("?<") || upcoming("?P<") {
                // A named group matches as a plain one: the name is not used.
                guard let close = scalars[index...].firstIndex(of: ">") else { throw SyntaxError(message: "a group name is not closed with '>'") }
                index = close + 1
            } else if upcoming("?i)") {
                throw SyntaxError(message: "(?i) is allowed only at the very start of the pattern")
            } else {
                throw SyntaxError(message: "this kind of group '(?' is not supported; use (…) or (?:…)")
            }
        }
        let inner = try alternation()
        guard peek == ")" else { throw SyntaxError(message: "a '(' is not closed with ')'") }
        index += 1
        return inner
    }

    private mutating func escape() throws(SyntaxError) -> PatternNode {
        guard let scalar = peek else { throw SyntaxError(message: "it ends with a lone backslash") }
        index += 1
        switch scalar {
        case "b": return .assert(.wordBoundary)
        case "B": return .assert(.notWordBoundary)
        case "A": return .assert(.start)
        case "z", "Z": return .assert(.end)
        default: break
        }
        if let item = classEscape(scalar) { return .set(LinearPattern.CharacterSet(items: [item])) }
        return .scalar(try literalEscape(scalar))
    }

    private func classEscape(_ scalar: Unicode.Scalar) -> LinearPattern.CharacterSet.Item? {
        switch scalar {
        case "d": .digit(true)
        case "D": .digit(false)
        case "w": .word(true)
        case "W": .word(false)
        case "s": .space(true)
        case "S": .space(false)
        default: nil
        }
    }

    /// The character an escape stands for, when it stands for one.
    private mutating func literalEscape(_ scalar: Unicode.Scalar) throws(SyntaxError) -> Unicode.Scalar {
        switch scalar {
        case "t": return "\t"
        case "n": return "\n"
        case "r": return "\r"
        case "f": return "\u{0C}"
        case "v": return "\u{0B}"
        case "e": return "\u{1B}"
        case "u": return try hex(count: 4)
        case "x":
            if peek == "{" {
                index += 1
                guard let close = scalars[index...].firstIndex(of: "}") else { throw SyntaxError(message: "\\x{ is not closed with '}'") }
                let digits = String(String.UnicodeScalarView(scalars[index..<close]))
                index = close + 1
                guard let value = UInt32(digits, radix: 16), let result = Unicode.Scalar(value) else {
                    throw SyntaxError(message: "\\x{\(digits)} is not a character")
                }
                return result
            }
            return try hex(count: 2)
        case "1"..."9", "k":
            throw SyntaxError(message: "backreferences (\\1, \\k<name>) are not supported: they need a backtracking engine")
        case "p", "P":
            throw SyntaxError(message: "Unicode property classes (\\p{…}) are not supported; list the characters in [ ]")
        default:
            let properties = scalar.properties
            guard !(scalar.isASCII && (properties.isAlphabetic || ("0"..."9").contains(scalar))) else {
                throw SyntaxError(message: "\\\(scalar) is not an escape this pattern language knows")
            }
            return scalar
        }
    }

    private mutating func hex(count: Int) throws(SyntaxError) -> Unicode.Scalar {
        guard index + count <= scalars.count else { throw SyntaxError(message: "a \\u or \\x escape needs \(count) hex digits") }
        let digits = String(String.UnicodeScalarView(scalars[index..<index + count]))
        index += count
        guard let value = UInt32(digits, radix: 16), let scalar = Unicode.Scalar(value) else {
            throw SyntaxError(message: "'\(digits)' is not \(count) hex digits naming a character")
        }
        return scalar
    }

    private mutating func characterClass() throws(SyntaxError) -> LinearPattern.CharacterSet {
        var set = LinearPattern.CharacterSet()
        if peek == "^" {
            set.negated = true
            index += 1
        }
        var first = true
        while true {
            guard let scalar = peek else { throw SyntaxError(message: "a '[' is not closed with ']'") }
            index += 1
            if scalar == "]", !first { return set }
            first = false
            if scalar == "[" { throw SyntaxError(message: "a class inside a class ([[…]]) is not supported; write \\[ for the character") }
            var low = scalar
            if scalar == "\\" {
                guard let escaped = peek else { throw SyntaxError(message: "a '[' is not closed with ']'") }
                index += 1
                if let item = classEscape(escaped) {
                    set.items.append(item)
                    continue
                }
                low = escaped == "b" ? "\u{08}" : try literalEscape(escaped)
            }
            if peek == "-", index + 1 < scalars.count, scalars[index + 1] != "]" {
                index += 1
                var high = scalars[index]
                index += 1
                if high == "\\" {
                    guard let escaped = peek else { throw SyntaxError(message: "a '[' is not closed with ']'") }
                    index += 1
                    high = try literalEscape(escaped)
                }
                guard low.value <= high.value else { throw SyntaxError(message: "the range \(low)-\(high) runs backwards") }
                set.items.append(.range(low.value, high.value))
            } else {
                set.items.append(.range(low.value, low.value))
            }
        }
    }
}

/// Writes a parsed pattern out as instructions.
struct PatternCompiler {
    var program: [LinearPattern.Instruction] = []

    private mutating func append(_ instruction: LinearPattern.Instruction) throws(LinearPattern.SyntaxError) {
        guard program.count < LinearPattern.maxProgram else {
            throw LinearPattern.SyntaxError(
                message: "it is too large once its repeats are written out (over \(LinearPattern.maxProgram) steps); use smaller {n,m} counts")
        }
        program.append(instruction)
    }

    mutating func emit(_ node: PatternNode) throws(LinearPattern.SyntaxError) {
        switch node {
        case .empty: break
        case .scalar(let scalar): try append(.scalar(scalar))
        case .set(let set): try append(.set(set))
        case .any: try append(.any)
        case .assert(let assertion): try append(.assert(assertion))
        case .concat(let nodes):
            for node in nodes { try emit(node) }
        case .alternate(let branches):
            var jumps: [Int] = []
            for (offset, branch) in branches.enumerated() {
                if offset < branches.count - 1 {
                    let split = program.count
                    try append(.split(split + 1, 0))
                    try emit(branch)
                    jumps.append(program.count)
                    try append(.jump(0))
                    program[split] = .split(split + 1, program.count)
                } else {
                    try emit(branch)
                }
            }
            for jump in jumps { program[jump] = .jump(program.count) }
        case .repeated(let inner, let min, let max):
            for _ in 0..<min { try emit(inner) }
            if let max {
                // Each optional copy may be skipped to the end.
                var splits: [Int] = []
                for _ in min..<max {
                    splits.append(program.count)
                    try append(.split(program.count + 1, 0))
                    try emit(inner)
                }
                for split in splits { program[split] = .split(split + 1, program.count) }
            } else {
                let loop = program.count
                try append(.split(loop + 1, 0))
                try emit(inner)
                try append(.jump(loop))
                program[loop] = .split(loop + 1, program.count)
            }
        }
    }
}
