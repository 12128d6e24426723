/// NHS numbers: ten digits whose last is a modulus 11 check digit.
public enum NHSNumber {
    /// The ten digits without spaces when `text` is a valid NHS number, else why it is not.
    /// - Parameter text: as a referrer types it: `9990000018` or `999 000 0018`.
    public static func normalise(_ text: String) -> Result<String, NHSNumberError> {
        let groups = text.split(separator: " ", omittingEmptySubsequences: false)
        let shapeOK =
            (groups.count == 1 && groups[0].count == 10)
            || (groups.count == 3 && groups[0].count == 3 && groups[1].count == 3 && groups[2].count == 4)
        let digits = groups.joined()
        guard shapeOK, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return .failure(.shape) }
        let values = digits.utf8.map { Int($0 - 0x30) }
        var sum = 0
        for (position, value) in values.prefix(9).enumerated() { sum += value * (10 - position) }
        var check = 11 - sum % 11
        if check == 11 { check = 0 }
        guard check != 10, check == values[9] else { return .failure(.checkDigit) }
        return .success(digits)
    }

    /// The number as people read it, 3-3-4: `999 000 0018`.
    public static func display(_ digits: String) -> String {
        guard digits.count == 10 else { return digits }
        let characters = Array(digits)
        return String(characters[0..<3]) + " " + String(characters[3..<6]) + " " + String(characters[6..<10])
    }

    /// Whether the number is in the range NHS England reserves for testing (starting 999).
    public static func isTestNumber(_ digits: String) -> Bool { digits.hasPrefix("999") }
}

public enum NHSNumberError: Error, Sendable {
    case shape
    case checkDigit

    public var detail: String {
        switch self {
        case .shape: "must be 10 digits, optionally written 3-3-4 with single spaces, for example 999 000 0018."
        case .checkDigit: "is not a valid NHS number: its check digit does not match; check it against the person's record."
        }
    }
}

/// UK postcodes, normalised to capitals with one space before the inward code (`OX1 2JD`).
public enum Postcode {
    /// An area (`OX`), district (`OX1`), sector (`OX1 2`) or full postcode, in capitals.
    public static func isPrefix(_ text: String) -> Bool {
        if let full = Postcode.normalise(text) { return full == text }
        let parts = text.split(separator: " ", omittingEmptySubsequences: false)
        let outward = String(parts[0])
        let outwardOK =
            (1...4).contains(outward.count) && outward.first?.isLetter == true
            && outward.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) } && outward.uppercased() == outward
        if parts.count == 1 { return outwardOK }
        return parts.count == 2 && outwardOK && parts[1].count == 1 && parts[1].first?.isNumber == true
    }

    /// The normalised postcode, or nil when `text` is not shaped like a UK postcode.
    public static func normalise(_ text: String) -> String? {
        let raw = Array(text.utf8)
        guard raw.allSatisfy({ $0 < 0x80 }) else { return nil }
        // At most one space, and only directly before the three-character inward code.
        let spaces = raw.indices.filter { raw[$0] == 0x20 }
        guard spaces.isEmpty || (spaces.count == 1 && spaces[0] == raw.count - 4) else { return nil }
        let compact = String(decoding: raw.filter { $0 != 0x20 }, as: UTF8.self).uppercased()
        let bytes = Array(compact.utf8)
        guard bytes.count >= 5, bytes.count <= 7 else { return nil }
        let inward = bytes.suffix(3)
        let outward = Array(bytes.dropLast(3))
        let isLetter = { (b: UInt8) in b >= 0x41 && b <= 0x5A }
        let isDigit = { (b: UInt8) in b >= 0x30 && b <= 0x39 }
        let inwardArray = Array(inward)
        guard isDigit(inwardArray[0]), isLetter(inwardArray[1]), isLetter(inwardArray[2]) else { return nil }
        // Outward code: A9, A99, A9A, AA9, AA99, AA9A.
        var position = 0
        guard isLetter(outward[position]) else { return nil }
        position += 1
        if position < outward.count, isLetter(outward[position]) { position += 1 }
        guard position < outward.count, isDigit(outward[position]) else { return nil }
        position += 1
        if position < outward.count, isLetter(outward[position]) || isDigit(outward[position]) { position += 1 }
        guard position == outward.count else { return nil }
        return String(decoding: outward, as: UTF8.self) + " " + String(decoding: inward, as: UTF8.self)
    }

    /// The postcode's area (`OX`), district (`OX1`) and sector (`OX1 2`), most specific last.
    public static func prefixes(of normalised: String) -> [String] {
        let parts = normalised.split(separator: " ")
        guard parts.count == 2 else { return [] }
        let outward = String(parts[0])
        let area = String(outward.prefix(while: { $0.isLetter }))
        return [area, outward, outward + " " + String(parts[1].prefix(1)), normalised]
    }
}

/// NHS Organisation Data Service codes: capitals and digits, 3 to 10 characters (`A81001`, `RTH`).
public enum ODSCode {
    public static func isValid(_ text: String) -> Bool {
        (3...10).contains(text.utf8.count)
            && text.utf8.allSatisfy { ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x30 && $0 <= 0x39) }
    }
}
