/// What kind of code names a referring organisation. NHS bodies have ODS codes; police forces,
/// councils and charities have codes of their own, and a person referring themselves has none.
public enum OrganisationType: String, Sendable, Codable, CaseIterable {
    /// An NHS Organisation Data Service code: `A81001`, `RTH`.
    case ods
    /// A police force area's ONS code: `E23000001`.
    case policeForce = "police-force"
    /// A registered charity's number: six to eight digits (England and Wales), or `SC` or `NIC`
    /// and six digits (Scotland, Northern Ireland).
    case charityNumber = "charity-number"
    /// A local authority's GSS code: `E10000025`.
    case localAuthority = "local-authority"
    /// The person, or someone close to them, referring themselves: the organisation is `SELF`.
    case selfReferral = "self"

    /// Why `code` is not a code of this kind, or nil when it is.
    public func problem(with code: String) -> String? {
        let bytes = Array(code.utf8)
        func digits(_ slice: ArraySlice<UInt8>) -> Bool { !slice.isEmpty && slice.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }
        switch self {
        case .ods:
            return ODSCode.isValid(code) ? nil : "must be an ODS code: 3 to 10 capital letters and digits, for example A81001 or RTH."
        case .policeForce:
            let valid = bytes.count == 9 && (code.hasPrefix("E23") || code.hasPrefix("W15")) && digits(bytes[3...])
            return valid ? nil : "must be a police force area's ONS code: E23 or W15 and six digits, for example E23000001."
        case .charityNumber:
            let valid =
                ((6...8).contains(bytes.count) && digits(bytes[...])) || (code.hasPrefix("SC") && bytes.count == 8 && digits(bytes[2...]))
                || (code.hasPrefix("NIC") && bytes.count == 9 && digits(bytes[3...]))
            return valid ? nil : "must be a registered charity number: 6 to 8 digits, or SC or NIC and six digits, for example 1012345."
        case .localAuthority:
            let prefixes = ["E06", "E07", "E08", "E09", "E10", "W06"]
            let valid = bytes.count == 9 && prefixes.contains(where: code.hasPrefix) && digits(bytes[3...])
            return valid ? nil : "must be a local authority's GSS code, for example E10000025 (a county) or E06000042 (a unitary authority)."
        case .selfReferral:
            return code == "SELF" ? nil : "must be SELF for a self-referral."
        }
    }
}

extension ReferralDecoder {
    /// `referrer.organisationType`, when given.
    func organisationType(_ reader: inout ObjectReader, issues: inout [FieldIssue]) -> OrganisationType? {
        guard let text = reader.string("organisationType", required: false, maxLength: 32, issues: &issues) else { return nil }
        guard let type = OrganisationType(rawValue: text) else {
            issues.append(
                FieldIssue(
                    pointer: reader.path("organisationType"),
                    detail: "must be one of \(OrganisationType.allCases.map(\.rawValue).joined(separator: ", ")); \"\(text)\" is not one of them."))
            return nil
        }
        return type
    }
}
