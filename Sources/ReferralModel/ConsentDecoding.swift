import Foundation

extension ReferralDecoder {
    /// `consent`: its status, and the record of a decision to share without consent (the lawful
    /// basis, who decided and when; for a best-interests decision, who assessed capacity).
    func decodeConsent(_ root: inout ObjectReader, issues: inout [FieldIssue]) -> Referral.Consent? {
        guard var reader = root.object("consent", required: true, issues: &issues) else { return nil }
        let status = reader.code("status", as: ConsentStatus.self, issues: &issues)
        var basis: LawfulBasis?
        let basisText = reader.string("lawfulBasis", required: false, maxLength: 64, issues: &issues)
        if let text = basisText {
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
        let parental = reader.string("parentalResponsibility", required: false, maxLength: ReferralLimits.nameLength, issues: &issues)
        let gillick = reader.bool("gillickCompetent", issues: &issues)
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
        // A share without consent is a decision someone made on a lawful basis: both are recorded.
        if status == .refused, !readingStored {
            if basisText == nil, !issues.contains(where: { $0.pointer == reader.path("lawfulBasis") }) {
                issues.append(
                    FieldIssue(
                        pointer: reader.path("lawfulBasis"),
                        detail:
                            "is required when consent is refused: the basis for sharing anyway (\(LawfulBasis.allCases.map(\.rawValue).joined(separator: ", ")))."
                    ))
            }
            if decisionMaker == nil, !issues.contains(where: { $0.pointer == reader.path("decisionMaker") }) {
                issues.append(
                    FieldIssue(
                        pointer: reader.path("decisionMaker"),
                        detail: "is required when consent is refused: who decided to share without it, a name and role."))
            }
        }
        if parental != nil || gillick != nil, status != .given {
            issues.append(
                FieldIssue(
                    pointer: reader.path(parental != nil ? "parentalResponsibility" : "gillickCompetent"),
                    detail: "records who gave a child's consent, so it goes with status \"given\"."))
        }
        guard let status else { return nil }
        return Referral.Consent(
            status: status, lawfulBasis: basis, decisionMaker: decisionMaker, decidedAt: decidedAt, capacityAssessedBy: assessor,
            parentalResponsibility: parental, gillickCompetent: gillick)
    }

    /// The rules of consent for a child, which need the person's age on the day of referral: the
    /// Mental Capacity Act (and so a best-interests decision) applies from 16; under 16, consent
    /// comes from a person with parental responsibility or from a Gillick-competent child; both
    /// are for children only.
    func checkChildConsent(_ consent: Referral.Consent, birthDate: String, today: String, issues: inout [FieldIssue]) {
        guard !readingStored, let age = CalendarDate.age(birthDate: birthDate, on: today) else { return }
        if age < 16, consent.status == .bestInterests {
            issues.append(
                FieldIssue(
                    pointer: "/consent/status",
                    detail:
                        "is \"best-interests\", a Mental Capacity Act decision, which applies from 16; this child is \(age). Record consent from a person with parental responsibility (status \"given\" with parentalResponsibility), or from the child if Gillick competent (gillickCompetent: true)."
                ))
        }
        if age < 16, consent.status == .given, consent.parentalResponsibility == nil, consent.gillickCompetent != true {
            issues.append(
                FieldIssue(
                    pointer: "/consent",
                    detail:
                        "is given for a child of \(age): say who gave it, with parentalResponsibility (a person with parental responsibility, a name and relationship), or that the child is Gillick competent (gillickCompetent: true)."
                ))
        }
        if age >= 18, consent.parentalResponsibility != nil {
            issues.append(
                FieldIssue(pointer: "/consent/parentalResponsibility", detail: "is for a child's consent; this person is \(age), an adult."))
        }
        if age >= 16, consent.gillickCompetent != nil {
            issues.append(
                FieldIssue(
                    pointer: "/consent/gillickCompetent",
                    detail: "is for a child under 16; this person is \(age), and consents for themselves under the Mental Capacity Act."))
        }
    }

    /// `respondBy` (an RFC 3339 time, not in the past) and `expectedDischargeDate` (a calendar date).
    /// - Parameter now: the moment of receipt: a `respondBy` before its minute is in the past. Without
    ///   it, only a day before `today` is.
    func decodeTimes(_ root: inout ObjectReader, today: String, now: Date?, issues: inout [FieldIssue]) -> (String?, String?) {
        var respondBy = root.string("respondBy", required: false, maxLength: 40, issues: &issues)
        if let time = respondBy {
            if !Self.isDateTime(time) {
                issues.append(FieldIssue(pointer: "/respondBy", detail: "must be an RFC 3339 time such as 2026-11-27T17:00:00Z."))
                respondBy = nil
            } else if !readingStored, let now, let instant = Timestamp.parse(time),
                instant < Date(timeIntervalSince1970: (now.timeIntervalSince1970 / 60).rounded(.down) * 60)
            {
                issues.append(
                    FieldIssue(
                        pointer: "/respondBy",
                        detail: "is in the past (it is now \(Timestamp.minute(now))); give the time a response is needed by."))
                respondBy = nil
            } else if !readingStored, now == nil, String(time.prefix(10)) < today {
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
