/// A code from a terminology, as FHIR's `Coding` carries it.
public struct Coding: Sendable, Equatable, Hashable {
    public var system: String
    public var code: String
    public var display: String

    public init(system: String, code: String, display: String) {
        self.system = system
        self.code = code
        self.display = display
    }

    /// A SNOMED CT concept.
    public static func snomed(_ code: String, _ display: String) -> Coding {
        Coding(system: SNOMED.system, code: code, display: display)
    }
}

/// SNOMED CT identifiers (SCTIDs), checked as the SNOMED CT technical guide defines them: 6 to 18
/// digits, no leading zero, a partition identifier saying it names a concept, and a Verhoeff
/// check digit. The check catches a mistyped code in configuration; it cannot tell that a valid
/// code means what its display says, which is why the display is configured beside it.
public enum SNOMED {
    public static let system = "http://snomed.info/sct"

    /// Why `code` is not a SNOMED CT concept id, or nil when it is one.
    public static func problem(with code: String) -> String? {
        let digits = code.utf8.map { Int($0) - 0x30 }
        guard (6...18).contains(digits.count), digits.allSatisfy({ (0...9).contains($0) }), digits.first != 0 else {
            return "'\(code)' is not a SNOMED CT identifier: 6 to 18 digits, not starting with 0"
        }
        // The partition identifier, the two digits before the check digit: 00 for a concept in the
        // international release, 10 for a concept in a national extension such as the UK's.
        let partition = digits[digits.count - 3] * 10 + digits[digits.count - 2]
        guard partition == 0 || partition == 10 else {
            return "'\(code)' is a SNOMED CT identifier, but not of a concept (its partition is \(partition / 10)\(partition % 10))"
        }
        guard verhoeffValid(digits) else { return "'\(code)' fails the SNOMED CT check digit: look for a mistyped or missing digit" }
        return nil
    }

    private static let multiplication: [[Int]] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6], [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
        [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1], [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
        [8, 7, 6, 5, 9, 3, 2, 1, 0, 4], [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
    ]
    private static let permutation: [[Int]] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2], [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
        [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1], [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
    ]

    static func verhoeffValid(_ digits: [Int]) -> Bool {
        var check = 0
        for (position, digit) in digits.reversed().enumerated() {
            check = multiplication[check][permutation[position % 8][digit]]
        }
        return check == 0
    }
}
