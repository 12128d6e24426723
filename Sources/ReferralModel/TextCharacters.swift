/// The characters text fields may hold. Control characters (C0, DEL and C1) cannot be shown,
/// printed or carried in XML 1.0, and a stray one is usually a sign of a broken client or an
/// attempt to forge log lines; U+FFFE and U+FFFF are not characters at all. Free text (a reason,
/// an address) may keep tab, line feed and carriage return.
///
/// Names, identifiers and codes also refuse the bidirectional embeddings, overrides and isolates
/// (U+202A–U+202E, U+2066–U+2069) and the line and paragraph separators (U+2028, U+2029): with
/// them a name displays reversed or split (`"Smith" + U+202E` shows as someone else), and the
/// wrong person is found or trusted. Free text keeps them, for writing that mixes directions.
public enum TextCharacters {
    /// The first character `text` may not hold, or nil when all are allowed.
    public static func firstRefused(in text: String, freeText: Bool) -> Unicode.Scalar? {
        for scalar in text.unicodeScalars where isRefused(scalar, freeText: freeText) {
            return scalar
        }
        return nil
    }

    static func isRefused(_ scalar: Unicode.Scalar, freeText: Bool) -> Bool {
        switch scalar.value {
        case 0x09, 0x0A, 0x0D: !freeText
        case 0x00...0x1F, 0x7F...0x9F, 0xFFFE, 0xFFFF: true
        case 0x2028, 0x2029, 0x202A...0x202E, 0x2066...0x2069: !freeText
        default: false
        }
    }

    /// The sentence a field issue gives: the character by its code point, never the text around it.
    public static func detail(_ scalar: Unicode.Scalar, freeText: Bool) -> String {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        let code = "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
        if (0x2028...0x202E).contains(scalar.value) || (0x2066...0x2069).contains(scalar.value) {
            return
                "must not contain bidirectional controls or line separators, which make a name or identifier display as something else; it holds \(code)."
        }
        let allowed = freeText ? " Line breaks and tabs are allowed." : ""
        return "must not contain control characters; it holds \(code).\(allowed)"
    }
}
