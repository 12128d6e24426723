import Foundation
import Testing

@testable import Routing

/// Rule patterns run in linear time, and mean what ICU (NSRegularExpression) means by them.
@Suite struct LinearPatternTests {
    static let patterns = [
        "^[A-Z][0-9]{5}$", "^(urgent|emergency)$", "care", "^(pl|ro)$", "(?i)^NHS", "^a?b+c*$", "\\bgp\\b", "^\\d{3} ?\\d{3} ?\\d{4}$",
        "^[^0-9]+$", "x{2,3}y", "^(ab|a)(bc|c)$", "^.*$", "^$", "a|", "^\\w+\\s\\w+$", "[.-]", "^(?:a|b){2}$", "\\Bb", "é+", "^[a-c\\d]+$",
        "colou?r", "^\\(\\d+\\)$", "\\u00e9", "^(a*)*b$", "x*", "^[\\]a]$", "^[-a]+$", "(?i)straße", "\\.", "a$",
    ]
    static let texts = [
        "", "A12345", "a12345", "urgent", "emergency", "urgently", "pl", "ro", "en", "nhs trust", "NHS", "abbbc", "bc", "ac", "my gp here",
        "gpx", "999 765 4323", "9997654323", "abc", "abcbc", "xxxy", "xxxxy", "xy", "word word", "a-b", "a.b", "ab", "ba", "café", "cafe",
        "color", "colour", "(123)", "aaab", "aaa", "]", "a", "--a", "Straße", "a\n", "line\nbreak", "ＡＢ", "١٢٣",
    ]

    @Test func agreesWithICUOnEveryPatternAndText() throws {
        for source in Self.patterns {
            let ours = try LinearPattern(source)
            let icu = try NSRegularExpression(pattern: source)
            for text in Self.texts {
                let expected = icu.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
                #expect(ours.matches(text) == expected, "'\(source)' on '\(text)': ICU says \(expected)")
            }
        }
    }

    @Test func groupsNestedBeyondTheLimitAreASyntaxErrorNotACrash() throws {
        // Fuzzing found a pattern of hundreds of nested groups overflowing the parser's stack.
        #expect(throws: LinearPattern.SyntaxError(message: "its groups are nested more than 32 deep")) {
            try LinearPattern(String(repeating: "(", count: 100_000) + "a" + String(repeating: ")", count: 100_000))
        }
        #expect(try LinearPattern(String(repeating: "(", count: 32) + "a" + String(repeating: ")", count: 32)).matches("a"))
        // Every input fuzzing kept as a seed (the crash among them) compiles or is refused, and matches.
        let seeds = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fuzz/Pattern/seeds")
        for file in try FileManager.default.contentsOfDirectory(atPath: seeds.path) {
            let input = String(decoding: try Data(contentsOf: seeds.appendingPathComponent(file)), as: UTF8.self)
            let parts = input.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
            if let pattern = try? LinearPattern(String(parts[0])) { _ = pattern.matches(parts.count > 1 ? String(parts[1]) : "") }
        }
    }

    @Test func nestedQuantifiersRunInLinearTime() throws {
        // A backtracking engine tries 2^n ways to split the a's before failing: with n = 5,000 it
        // would not finish; the NFA reads each character once per state.
        let text = String(repeating: "a", count: 5_000) + "!"
        for source in ["^(a+)+$", "^(a|a)*$", "^(a|aa)+$", "(x+x+)+y", "^(\\w+\\s?)*$"] {
            let pattern = try LinearPattern(source)
            #expect(pattern.program.count < 30)
            #expect(!pattern.matches(text), "\(source)")
        }
        #expect(try LinearPattern("^(a+)+$").matches(String(repeating: "a", count: 5_000)))
    }

    @Test(arguments: [
        ("(a)\\1", "backreferences"), ("(?<n>a)\\k<n>", "backreferences"), ("a(?=b)", "lookahead and lookbehind"),
        ("(?<!a)b", "lookahead and lookbehind"), ("(?>a+)b", "atomic groups"), ("a*+", "possessive"), ("a{1001}", "at most 1000"),
        ("(a{1,100}){1,100}", "too large"), ("\\p{L}", "Unicode property"), ("a)", "no '(' to close"), ("*a", "nothing before it"),
        ("a**", "cannot follow another"), ("a{3,2}", "counts down"), ("[z-a]", "backwards"), ("ab(?i)c", "only at the very start"),
        ("\\q", "not an escape"),
    ])
    func refusesWhatNeedsBacktrackingOrIsMalformed(source: String, says: String) {
        #expect {
            _ = try LinearPattern(source)
        } throws: { error in
            (error as? LinearPattern.SyntaxError)?.message.contains(says) == true
        }
    }
}
