import Foundation

extension ReferralDecoder {
    /// `consent`: its status, and the record of a decision to share without consent (the lawful
    /// basis, who decided and when; for a best-interests decision, who assessed capacity).
    func decodeConsent(_ root: inout ObjectReader, issues: inout [FieldIssue]) -> Referral.Consent? {
        guard var reader = root.object("consent", required: true, issues: &issues) else { return nil }
        let status = reader.code("status", as: ConsentStatus.self, issues: &issues)
        var basis: LawfulBasis?
        if let text = reader.string("lawfulBasis", required: false, maxLength: 64, issues: &issues) {
            basis = LawfulBasis(rawValue: text)
            if basis == nil {
                issues.append(
                    FieldIssue(
                        pointer: reader.path("lawfulBasis"),
                        detail: "must be one of \(LawfulBasis.allCases.map(\.rawValue).joined(separator: ", ")); \"\(text)\" is not one of them."))
            }
        }
        let decisionMaker = reader.string("decisionMaker", required: false, maxLength: ReferralLimits.nameLength, issues: &issues)
        var decidedAt = reader.string("decidedAt", required: false, maxLength: 40, issues: &issues)
        if let time = decidedAt, !Self.isDateTime(time) {
            issues.append(
                FieldIssue(pointer: reader.path("decidedAt"), detail: "must be an RFC 3339 time such as 2026-11-25T14:30:00Z."))
            decidedAt = nil
        }
        let assessor = reader.string("capacityAssessedBy", required: false, maxLength: ReferralLimits.nameLength, issues: &issues)
        reader.rejectUnknownMembers(issues: &issues)
        if status == .given, basis != nil {
            issues.append(
                FieldIssue(
                    pointer: reader.path("lawfulBasis"),
                    detail: "is for sharing without consent; with consent given, consent is the basis, so leave it out."))
        }
        if assessor != nil, status != .bestInterests {
            issues.append(
                FieldIssue(
                    pointer: reader.path("capacityAssessedBy"),
                    detail: "records a capacity assessment, which only a \"best-interests\" decision has."))
        }
        guard let status else { return nil }
        return Referral.Consent(
            status: status, lawfulBasis: basis, decisionMaker: decisionMaker, decidedAt: decidedAt, capacityAssessedBy: assessor)
    }

    /// `respondBy` (an RFC 3339 time, not in the past) and `expectedDischargeDate` (a calendar date).
    func decodeTimes(_ root: inout ObjectReader, today: String, issues: inout [FieldIssue]) -> (String?, String?) {
        var respondBy = root.string("respondBy", required: false, maxLength: 40, issues: &issues)
        if let time = respondBy {
            if !Self.isDateTime(time) {
                issues.append(FieldIssue(pointer: "/respondBy", detail: "must be an RFC 3339 time such as 2026-11-27T17:00:00Z."))
                respondBy = nil
            } else if !readingStored, String(time.prefix(10)) < today {
                issues.append(FieldIssue(pointer: "/respondBy", detail: "is in the past (today is \(today)); give the time a response is needed by."))
                respondBy = nil
            }
        }
        var discharge = root.string("expectedDischargeDate", required: false, maxLength: 10, issues: &issues)
        if let date = discharge, !CalendarDate.isValid(date) {
            issues.append(
                FieldIssue(pointer: "/expectedDischargeDate", detail: "must be a calendar date written YYYY-MM-DD, for example 2026-12-01."))
            discharge = nil
        }
        return (respondBy, discharge)
    }

    /// An RFC 3339 date-time (`2026-11-25T14:30:00Z`, with optional fractions of a second and a
    /// `Z` or numeric offset), as JSON Schema's `date-time` format defines it.
    static func isDateTime(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20, let separator = bytes.firstIndex(where: { $0 == UInt8(ascii: "T") || $0 == UInt8(ascii: "t") }),
            separator == 10, CalendarDate.isValid(String(decoding: bytes[0..<10], as: UTF8.self))
        else { return false }
        func number(_ range: Range<Int>, max: Int) -> Bool {
            guard range.upperBound <= bytes.count, bytes[range].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return false }
            return Int(String(decoding: bytes[range], as: UTF8.self)).map { $0 <= max } ?? false
        }
        guard number(11..<13, max: 23), bytes[13] == UInt8(ascii: ":"), number(14..<16, max: 59), bytes[16] == UInt8(ascii: ":"),
            number(17..<19, max: 60)
        else { return false }
        var index = 19
        if bytes[index] == UInt8(ascii: ".") {
            index += 1
            let start = index
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 { index += 1 }
            guard index > start, index < bytes.count else { return false }
        }
        if bytes[index] == UInt8(ascii: "Z") || bytes[index] == UInt8(ascii: "z") { return index + 1 == bytes.count }
        guard bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-"), bytes.count == index + 6 else { return false }
        return number(index + 1..<index + 3, max: 23) && bytes[index + 3] == UInt8(ascii: ":") && number(index + 4..<index + 6, max: 59)
    }
}
