import Foundation
import ReferralModel
import Settings
import SwitchboardTesting
import Testing

@testable import Routing

/// A small seeded generator (SplitMix64), so a failing case can be replayed from its seed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Random rule sets that use every kind of condition, and random referrals to route by them.
struct RuleSetGenerator {
    var random: SeededGenerator
    let needs = NeedsVocabulary.standard.codes
    // OX10 shares its first characters with OX1: a prefix test and a district are not the same.
    let places = ["OX", "OX1", "OX1 2", "OX4", "OX10", "RG", "RG1", "SN", "OX3 9DU", "OX4 1"]
    let postcodes = ["OX1 2JD", "OX1 3PW", "OX4 1AA", "OX4 2BB", "OX10 7AB", "OX3 9DU", "RG1 1AA", "SN1 1AA", "M1 1AE"]
    let agencies = ["spa", "falls", "mash"]

    init(seed: UInt64) { random = SeededGenerator(state: seed) }

    mutating func pick<T>(_ items: [T]) -> T { items.randomElement(using: &random)! }
    mutating func some<T>(_ items: [T], upTo count: Int) -> [T] {
        Array(items.shuffled(using: &random).prefix(Int.random(in: 1...count, using: &random)))
    }
    mutating func flowList(_ items: [String]) -> String { "[" + items.map { "\"\($0)\"" }.joined(separator: ", ") + "]" }

    /// One condition as a YAML flow mapping.
    mutating func condition(depth: Int = 0) -> String {
        let kinds = depth < 2 ? 14 : 10
        switch Int.random(in: 0..<kinds, using: &random) {
        case 0, 1: return "{needs: \(flowList(some(needs, upTo: 3)))}"
        case 2: return "{postcode: \(flowList(some(places, upTo: 3)))}"
        case 3: return "{urgency: \(flowList(some(Urgency.allCases.map(\.rawValue), upTo: 2)))}"
        case 4: return "{safeguarding: \(Bool.random(using: &random))}"
        case 5:
            return Bool.random(using: &random)
                ? "{age: {min: \(Int.random(in: 18...90, using: &random))}}" : "{age: {max: \(Int.random(in: 18...90, using: &random))}}"
        case 6: return "{field: needs, in: \(flowList(some(needs, upTo: 2)))}"
        case 7: return "{field: needs, equals: \(pick(needs))}"
        case 8: return "{field: subject/postcode, prefix: \"\(pick(["OX1", "OX4", "RG"]))\"}"
        case 9:
            return pick([
                "{field: subject/preferredLanguage, exists: true}", "{time: {days: [weekdays], from: \"09:00\", to: \"17:00\"}}",
                "{field: urgency, matches: \"^(urgent|emergency)$\"}", "{field: needs, contains: \"care\"}",
            ])
        case 10: return "{not: \(condition(depth: depth + 1))}"
        case 11: return "{any: [\(condition(depth: depth + 1)), \(condition(depth: depth + 1))]}"
        case 12: return "{all: [\(condition(depth: depth + 1)), \(condition(depth: depth + 1))]}"
        default: return "{needs: \(flowList(some(needs, upTo: 2))), postcode: \(flowList(some(places, upTo: 2)))}"
        }
    }

    mutating func rulesText(count: Int) -> String {
        var text = "rules:\n"
        // A rule repeating an earlier stop rule's condition is refused as shadowed: draw again.
        var stopConditions: Set<String> = []
        for index in 0..<count {
            var when = condition()
            while stopConditions.contains(when) { when = condition() }
            text += "  - id: rule-\(index)\n    when: \(when)\n    route_to: \(pick(agencies))\n"
            if Int.random(in: 0..<8, using: &random) == 0 {
                text += "    stop: true\n"
                stopConditions.insert(when)
            }
        }
        return text + "fallback: spa\n"
    }

    mutating func referral() -> (Referral, Date) {
        let born = "19\(Int.random(in: 20...99, using: &random))-0\(Int.random(in: 1...9, using: &random))-15"
        let subject = Referral.Subject(
            givenName: "Test", familyName: "Person", birthDate: born, postcode: pick(postcodes),
            preferredLanguage: Bool.random(using: &random) ? "pl" : nil)
        let referral = Referral(
            referrer: .init(organisation: "A81001", name: "Dr Test"), subject: subject, needs: some(needs, upTo: 3),
            urgency: pick(Urgency.allCases), reason: "test", consent: .init(status: .given), safeguarding: Bool.random(using: &random))
        // Any moment of 2026, so time windows fall both ways.
        let at = Date(timeIntervalSince1970: 1_767_225_600 + Double.random(in: 0..<31_536_000, using: &random))
        return (referral, at)
    }
}

@Suite struct RuleIndexTests {
    /// The index only decides which rules are evaluated; the decision must be exactly the one
    /// trying every rule in order gives, whatever the conditions.
    @Test(arguments: 1...24 as ClosedRange<UInt64>)
    func theIndexedDecisionIsTheScanningDecision(seed: UInt64) throws {
        var generator = RuleSetGenerator(seed: seed)
        let text = generator.rulesText(count: 60)
        let set = try RuleSet.parse(text, file: "rules.yaml", agencies: directory(), vocabulary: .standard)
        var routedByRules = 0
        for _ in 0..<300 {
            let (referral, at) = generator.referral()
            let indexed = set.route(referral, at: at)
            #expect(indexed == set.routeByScanning(referral, at: at), "seed \(seed)")
            #expect(indexed == set.explain(referral, at: at).0, "seed \(seed)")
            if !indexed.usedFallback { routedByRules += 1 }
        }
        #expect(routedByRules > 0, "the generated rules match some referrals, so the comparison means something")
    }

    @Test func aDistrictRuleDoesNotCatchADistrictThatMerelyStartsTheSame() throws {
        let set = try rules(
            """
            rules:
              - id: oxford-centre
                when: {needs: adult-social-care, postcode: OX1}
                route_to: falls
            fallback: spa
            """)
        #expect(set.route(referral(needs: ["adult-social-care"], postcode: "OX1 2JD")).targets.map(\.agency.rawValue) == ["falls"])
        #expect(set.route(referral(needs: ["adult-social-care"], postcode: "OX10 7AB")).targets.map(\.agency.rawValue) == ["spa"])
    }

    @Test func stopIsHonouredAmongTheRulesTheIndexFinds() throws {
        let set = try rules(
            """
            rules:
              - id: anyone-at-risk
                when: {safeguarding: true}
                route_to: mash
                stop: true
              - id: falls-oxford
                when: {needs: falls-prevention, postcode: OX}
                route_to: falls
            fallback: spa
            """)
        let atRisk = set.route(referral(needs: ["falls-prevention"], safeguarding: true))
        #expect(atRisk.targets.map(\.agency.rawValue) == ["mash"])
        #expect(atRisk.matchedRules == ["anyone-at-risk"])
        #expect(set.route(referral(needs: ["falls-prevention"])).targets.map(\.agency.rawValue) == ["falls"])
    }
}

@Suite struct RulesChangeTests {
    let base = """
        bank_holidays: ["2026-12-25"]
        rules:
          - id: a
            when: {needs: falls-prevention}
            route_to: falls
          - id: b
            when: {safeguarding: true}
            route_to: mash
        fallback: spa

        """

    @Test func theSameTextIsNoChange() {
        let change = RulesChange(from: base, to: base)
        #expect(change.isEmpty)
        #expect(change.summary == "no change")
        #expect(change.lineDiff.isEmpty)
    }

    @Test func commentsAndLayoutAreNotARuleChange() {
        let relaid =
            "# reviewed 2026-11\n"
            + base.replacingOccurrences(of: "{needs: falls-prevention}", with: "\n      needs: falls-prevention  # block style")
        let change = RulesChange(from: base, to: relaid)
        #expect(!change.isEmpty)
        #expect(change.summary == "comments or layout only; no rule changed")
    }

    @Test func rulesAreComparedByIdAndEveryKindOfChangeIsNamed() {
        let new = """
            bank_holidays: ["2026-12-28"]
            rules:
              - id: b
                when: {safeguarding: true}
                route_to: [mash, spa]
              - id: c
                when: {always: true}
                route_to: spa
            fallback: falls

            """
        let change = RulesChange(from: base, to: new)
        #expect(change.added == ["c"])
        #expect(change.removed == ["a"])
        #expect(change.changed == ["b"])
        #expect(!change.reordered, "b is the only rule both have")
        #expect(
            change.summary
                == "rules added: c; removed: a; changed: b; fallback spa -> falls; bank holidays added: 2026-12-28; bank holidays removed: 2026-12-25"
        )
        let swapped = RulesChange(
            from: base,
            to: base.replacingOccurrences(of: "  - id: a\n    when: {needs: falls-prevention}\n    route_to: falls\n", with: "")
                .replacingOccurrences(of: "fallback", with: "  - id: a\n    when: {needs: falls-prevention}\n    route_to: falls\nfallback"))
        #expect(swapped.reordered && swapped.summary == "order changed")
    }

    @Test func theLineDiffIsUnifiedWithThreeLinesOfContext() {
        let old = (1...10).map { "line \($0)" }.joined(separator: "\n") + "\n"
        let new = old.replacingOccurrences(of: "line 5\n", with: "line five\n")
        #expect(
            RulesChange(from: old, to: new).lineDiff == """
                --- live
                +++ new
                @@ -2,7 +2,7 @@
                 line 2
                 line 3
                 line 4
                -line 5
                +line five
                 line 6
                 line 7
                 line 8

                """)
    }

    /// Applying the diff to the old text gives the new one, for texts changed at random.
    @Test(arguments: 1...40 as ClosedRange<UInt64>)
    func theDiffTakesTheOldTextToTheNew(seed: UInt64) {
        var random = SeededGenerator(state: seed)
        var lines = (0..<Int.random(in: 0...30, using: &random)).map { _ in "l\(Int.random(in: 0..<8, using: &random))" }
        let old = lines.joined(separator: "\n")
        for _ in 0..<Int.random(in: 1...6, using: &random) {
            let position = Int.random(in: 0...lines.count, using: &random)
            if Bool.random(using: &random), position < lines.count {
                lines.remove(at: position)
            } else {
                lines.insert("new\(position)", at: position)
            }
        }
        let new = lines.joined(separator: "\n")
        #expect(apply(RulesChange(from: old, to: new).lineDiff, to: old) == new, "seed \(seed)")
    }

    /// A plain unified-diff applier, independent of the code under test.
    func apply(_ diff: String, to text: String) -> String {
        guard !diff.isEmpty else { return text }
        let source = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var output: [String] = []
        var next = 0
        for line in diff.split(separator: "\n", omittingEmptySubsequences: false).dropFirst(2) where !line.isEmpty {
            if line.hasPrefix("@@") {
                let start = Int(line.split(separator: " ")[1].dropFirst().split(separator: ",")[0])!
                let count = Int(line.split(separator: " ")[1].split(separator: ",")[1])!
                let from = count == 0 ? start : start - 1
                output += source[next..<from]
                next = from
            } else if line.hasPrefix("-") || line.hasPrefix(" ") {
                next += 1
                if line.hasPrefix(" ") { output.append(String(line.dropFirst())) }
            } else if line.hasPrefix("+") {
                output.append(String(line.dropFirst()))
            }
        }
        output += source[next...]
        return output.joined(separator: "\n")
    }
}

@Suite struct ConfigPathTests {
    /// Nine levels of aliases, each repeating the one before ten times: a billion values in a few
    /// hundred bytes. It is refused at once, rather than expanded by every walk of the rules.
    @Test func aDocumentWhoseAliasesExpandWithoutLimitIsRefused() {
        var text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1...9 { text += "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]\n" }
        text += "rules:\n  - id: laughs\n    when: {all: *a9}\n    route_to: spa\nfallback: spa\n"
        let issues = problems(text)
        #expect(issues.count == 1)
        #expect(issues.first?.message == "the document expands to more than 2000000 values")
        #expect(RulesChange(from: "", to: text).summary == "comments or layout only; no rule changed")
    }

    @Test func eachProblemNamesItsPlaceInTheDocument() {
        let issues = problems(
            """
            rules:
              - id: first
                when: {needs: [falls-prevention], colour: blue}
                route_to: [falls, the-moon]
              - when: {always: true}
                route_to: spa
            fallback: nobody
            """)
        let byMessage = Dictionary(issues.map { ($0.message, $0.path ?? "none") }, uniquingKeysWith: { first, _ in first })
        #expect(byMessage["unknown key 'colour' in a condition"] == "/rules/0/when/colour")
        #expect(byMessage["unknown agency 'the-moon'"] == "/rules/0/route_to/1")
        #expect(byMessage["a rule is missing 'id'"] == "/rules/1")
        #expect(byMessage["unknown agency 'nobody'"] == "/fallback")
    }
}

@Suite struct LondonTimeTests {
    static let london: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "Europe/London")!
        return calendar
    }()

    /// The Europe/London arithmetic routing uses (ReferralModel's `LondonTime`) agrees with Foundation's time zone database at
    /// every instant tried: random ones from 1996 to 2099, and each minute either side of every
    /// clock change in those years.
    @Test func localTimeAgreesWithFoundationsEuropeLondon() throws {
        var random = SeededGenerator(state: 20_261_124)
        var instants = (0..<20_000).map { _ in Date(timeIntervalSince1970: Double.random(in: 820_454_400..<4_102_444_800, using: &random)) }
        for year in 1996...2099 {
            for month in [3, 10] {
                var components = DateComponents(year: year, month: month, day: 31, hour: 1)
                components.timeZone = TimeZone(identifier: "UTC")
                let endOfMonth = try #require(Calendar(identifier: .gregorian).date(from: components))
                for offset in stride(from: -8 * 86_400, through: 86_400, by: 1_800) { instants.append(endOfMonth.addingTimeInterval(Double(offset))) }
            }
        }
        for instant in instants {
            let expected = Self.london.dateComponents([.year, .month, .day, .hour, .minute, .weekday], from: instant)
            let local = LondonTime(instant)
            #expect(local.year == expected.year && local.month == expected.month && local.dayOfMonth == expected.day, "\(instant)")
            #expect(local.minute == expected.hour! * 60 + expected.minute!, "\(instant)")
            #expect(local.weekday == (expected.weekday! + 5) % 7 + 1, "\(instant)")
        }
    }
}
