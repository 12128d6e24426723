import Foundation

/// Turns a request body into a `Referral`, strictly: every problem in the body is reported at
/// once with its JSON Pointer, unknown fields at any depth are rejected, and values are normalised
/// (NHS number without spaces, postcode in `OX1 2JD` form).
public struct ReferralDecoder: Sendable {
    public let vocabulary: NeedsVocabulary
    /// False in production: NHS numbers in the 999 test range are refused.
    public let acceptsTestNumbers: Bool
    /// True when reading back a stored referral: its needs and its times were checked against the
    /// vocabulary and the date when it was accepted, and neither is checked again.
    private(set) var readingStored = false

    public init(vocabulary: NeedsVocabulary = .standard, acceptsTestNumbers: Bool = true) {
        self.vocabulary = vocabulary
        self.acceptsTestNumbers = acceptsTestNumbers
    }

    /// Reads back a referral the gateway stored in its canonical form, through the same strict
    /// parser intake uses. It was validated when it was accepted; the needs vocabulary and today's
    /// date may have moved on since, so neither is checked again.
    public static func decodeStored<Bytes: Collection>(_ canonical: Bytes) throws(Failure) -> Referral where Bytes.Element == UInt8 {
        var decoder = ReferralDecoder(vocabulary: .standard)
        decoder.readingStored = true
        return try decoder.decode(canonical, today: "9999-12-31")
    }

    /// The same, from a parsed document.
    public static func decodeStored(_ document: JSONValue) throws(Failure) -> Referral {
        var decoder = ReferralDecoder(vocabulary: .standard)
        decoder.readingStored = true
        return try decoder.decode(document, today: "9999-12-31")
    }

    public enum Failure: Error, Sendable, Equatable {
        /// Not JSON at all (HTTP 400).
        case syntax(JSONSyntaxError)
        /// JSON that breaks the schema or a domain rule (HTTP 422).
        case invalid(ValidationFailure)
    }

    /// Decodes and validates a body received at `now`: birth dates are checked against its day in
    /// Europe/London, and `respondBy` against its minute.
    public func decode<Bytes: Collection>(_ body: Bytes, at now: Date) throws(Failure) -> Referral where Bytes.Element == UInt8 {
        try decode(body, today: CalendarDate.string(from: now), now: now)
    }

    /// Decodes and validates a body.
    /// - Parameters:
    ///   - body: UTF-8 JSON bytes.
    ///   - today: the date birth dates (and ages) are checked against, `YYYY-MM-DD` in Europe/London.
    ///   - now: the moment of receipt, when known: `respondBy` may not be before its minute; without
    ///     it, not before `today`.
    public func decode<Bytes: Collection>(_ body: Bytes, today: String = ReferralDecoder.today(), now: Date? = nil) throws(Failure) -> Referral
    where Bytes.Element == UInt8 {
        let document: JSONValue
        do {
            document = try JSONParser.parse(body)
        } catch {
            throw .syntax(error)
        }
        return try decode(document, today: today, now: now)
    }

    public func decode(_ document: JSONValue, today: String = ReferralDecoder.today(), now: Date? = nil) throws(Failure) -> Referral {
        var issues: [FieldIssue] = []
        guard var root = ObjectReader.open(document, at: "", issues: &issues) else {
            throw .invalid(ValidationFailure(issues: issues))
        }
        let referrer = decodeReferrer(&root, issues: &issues)
        let subject = decodeSubject(&root, today: today, issues: &issues)
        let needs = decodeNeeds(&root, issues: &issues)
        let urgency = root.code("urgency", as: Urgency.self, issues: &issues)
        let reason = root.string("reason", required: true, maxLength: ReferralLimits.reasonLength, freeText: true, issues: &issues)
        let consent = decodeConsent(&root, issues: &issues)
        let safeguarding = root.bool("safeguarding", issues: &issues)
        let externalReference = root.string(
            "externalReference", required: false, maxLength: ReferralLimits.externalReferenceLength, issues: &issues)
        let (respondBy, expectedDischargeDate) = decodeTimes(&root, today: today, now: now, issues: &issues)
        root.rejectUnknownMembers(issues: &issues)
        // The person's age decides the consent rules, even when another of their details is wrong.
        if let consent, let birthDate = subject?.birthDate ?? Self.birthDate(in: document, today: today) {
            checkChildConsent(consent, birthDate: birthDate, today: today, issues: &issues)
        }

        if consent?.status == .refused, safeguarding != true {
            issues.append(
                FieldIssue(
                    pointer: "/consent/status",
                    detail:
                        "is \"refused\": a referral without consent is accepted only when \"safeguarding\" is true, because someone is at risk of harm."
                ))
        }
        guard issues.isEmpty, let referrer, let subject, let needs, let urgency, let reason, let consent else {
            throw .invalid(ValidationFailure(issues: issues))
        }
        return Referral(
            referrer: referrer, subject: subject, needs: needs, urgency: urgency, reason: reason,
            consent: consent, safeguarding: safeguarding, externalReference: externalReference, respondBy: respondBy,
            expectedDischargeDate: expectedDischargeDate)
    }

    private func decodeReferrer(_ root: inout ObjectReader, issues: inout [FieldIssue]) -> Referral.Referrer? {
        guard var reader = root.object("referrer", required: true, issues: &issues) else { return nil }
        var organisation = reader.string("organisation", required: true, maxLength: 10, issues: &issues)
        let type = organisationType(&reader, issues: &issues)
        if let code = organisation, let problem = (type ?? .ods).problem(with: code) {
            issues.append(FieldIssue(pointer: reader.path("organisation"), detail: problem))
            organisation = nil
        }
        let name = reader.string("name", required: true, maxLength: ReferralLimits.nameLength, issues: &issues)
        let role = reader.string("role", required: false, maxLength: ReferralLimits.roleLength, issues: &issues)
        let phone = phoneNumber(&reader, issues: &issues)
        var email = reader.string("email", required: false, maxLength: ReferralLimits.emailLength, issues: &issues)
        if let address = email, !Self.looksLikeEmail(address) {
            issues.append(FieldIssue(pointer: reader.path("email"), detail: "must be an email address such as name@nhs.net."))
            email = nil
        }
        let organisationName = reader.string("organisationName", required: false, maxLength: ReferralLimits.nameLength, issues: &issues)
        reader.rejectUnknownMembers(issues: &issues)
        guard let organisation, let name else { return nil }
        return .init(
            organisation: organisation, name: name, role: role, phone: phone, email: email, organisationType: type,
            organisationName: organisationName)
    }

    private func decodeSubject(_ root: inout ObjectReader, today: String, issues: inout [FieldIssue]) -> Referral.Subject? {
        guard var reader = root.object("subject", required: true, issues: &issues) else { return nil }
        var nhsNumber: String?
        if let text = reader.string("nhsNumber", required: false, maxLength: 12, issues: &issues) {
            switch NHSNumber.normalise(text) {
            case .success(let digits) where !acceptsTestNumbers && !readingStored && NHSNumber.isTestNumber(digits):
                issues.append(
                    FieldIssue(
                        pointer: reader.path("nhsNumber"),
                        detail: "is in the 999 range NHS England reserves for testing; this gateway is live (environment: production) "
                            + "and takes real NHS numbers only."))
            case .success(let digits): nhsNumber = digits
            case .failure(let error): issues.append(FieldIssue(pointer: reader.path("nhsNumber"), detail: error.detail))
            }
        }
        let givenName = reader.string("givenName", required: true, maxLength: ReferralLimits.nameLength, issues: &issues)
        let familyName = reader.string("familyName", required: true, maxLength: ReferralLimits.nameLength, issues: &issues)
        var birthDate = reader.string("birthDate", required: true, maxLength: 10, issues: &issues)
        if let date = birthDate {
            if !CalendarDate.isValid(date) {
                issues.append(
                    FieldIssue(pointer: reader.path("birthDate"), detail: "must be a calendar date written YYYY-MM-DD, for example 1948-07-05."))
                birthDate = nil
            } else if date > today {
                issues.append(FieldIssue(pointer: reader.path("birthDate"), detail: "is in the future (today is \(today)); check the date of birth."))
                birthDate = nil
            }
        }
        let address = reader.string("address", required: false, maxLength: ReferralLimits.addressLength, freeText: true, issues: &issues)
        var postcode = reader.string("postcode", required: true, maxLength: 8, issues: &issues)
        if let text = postcode {
            postcode = Postcode.normalise(text)
            if postcode == nil {
                issues.append(FieldIssue(pointer: reader.path("postcode"), detail: "is not a UK postcode; write it like OX1 2JD."))
            }
        }
        let phone = phoneNumber(&reader, issues: &issues)
        let language = reader.string("preferredLanguage", required: false, maxLength: ReferralLimits.languageLength, issues: &issues)
        let interpreter = reader.bool("interpreterNeeded", issues: &issues)
        let gender = reader.code("gender", as: AdministrativeGender.self, required: false, issues: &issues)
        var practice = reader.string("registeredPractice", required: false, maxLength: 10, issues: &issues)
        if let code = practice, !ODSCode.isValid(code) {
            issues.append(
                FieldIssue(
                    pointer: reader.path("registeredPractice"),
                    detail: "must be the GP practice's ODS code: 3 to 10 capital letters and digits, for example K84001."))
            practice = nil
        }
        reader.rejectUnknownMembers(issues: &issues)
        guard let givenName, let familyName, let birthDate, let postcode else { return nil }
        return .init(
            nhsNumber: nhsNumber, givenName: givenName, familyName: familyName, birthDate: birthDate, address: address,
            postcode: postcode, phone: phone, preferredLanguage: language, interpreterNeeded: interpreter, gender: gender,
            registeredPractice: practice)
    }

    private func phoneNumber(_ reader: inout ObjectReader, issues: inout [FieldIssue]) -> String? {
        guard let phone = reader.string("phone", required: false, minLength: 6, maxLength: ReferralLimits.phoneLength, issues: &issues)
        else { return nil }
        let allowed = phone.utf8.enumerated().allSatisfy { offset, byte in
            (byte >= 0x30 && byte <= 0x39) || byte == 0x20 || (byte == UInt8(ascii: "+") && offset == 0)
        }
        guard allowed else {
            issues.append(
                FieldIssue(
                    pointer: reader.path("phone"),
                    detail: "must be a phone number of digits and spaces, optionally starting with +, for example 01865 741166."))
            return nil
        }
        return phone
    }

    private func decodeNeeds(_ root: inout ObjectReader, issues: inout [FieldIssue]) -> [String]? {
        guard let value = root.value("needs", required: true, issues: &issues) else { return nil }
        let pointer = root.path("needs")
        guard case .array(let elements) = value else {
            issues.append(FieldIssue(pointer: pointer, detail: "must be an array of need codes, not \(value.kindName)."))
            return nil
        }
        if elements.isEmpty {
            issues.append(FieldIssue(pointer: pointer, detail: "must name at least one need, for example [\"falls-prevention\"]."))
            return nil
        }
        if elements.count > ReferralLimits.maximumNeeds {
            issues.append(FieldIssue(pointer: pointer, detail: "must name at most \(ReferralLimits.maximumNeeds) needs."))
            return nil
        }
        var needs: [String] = []
        var valid = true
        for (offset, element) in elements.enumerated() {
            let elementPointer = jsonPointer(pointer, String(offset))
            guard let code = ObjectReader.string(element, at: elementPointer, maxLength: 64, issues: &issues) else {
                valid = false
                continue
            }
            if !readingStored, !vocabulary.codes.contains(code) {
                issues.append(
                    FieldIssue(
                        pointer: elementPointer,
                        detail: "\"\(code)\" is not a need this gateway knows; use one of \(vocabulary.codes.joined(separator: ", "))."))
                valid = false
            } else if needs.contains(code) {
                issues.append(FieldIssue(pointer: elementPointer, detail: "repeats \"\(code)\"; name each need once."))
                valid = false
            } else {
                needs.append(code)
            }
        }
        return valid ? needs : nil
    }

    /// `subject.birthDate` as written, when it is a date not after today.
    static func birthDate(in document: JSONValue, today: String) -> String? {
        guard case .string(let date)? = document.member("subject")?.member("birthDate"), CalendarDate.isValid(date), date <= today else { return nil }
        return date
    }

    static func looksLikeEmail(_ text: String) -> Bool {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        // Exactly the schema's pattern: ^[^@ \t\r\n]+@[^@ \t\r\n]+$
        return parts.count == 2 && !parts[0].isEmpty && !parts[1].isEmpty
            && !text.unicodeScalars.contains(where: { [" ", "\t", "\r", "\n"].contains($0) })
    }

    /// Today's date in Europe/London, `YYYY-MM-DD`.
    public static func today(now: Date = Date()) -> String {
        CalendarDate.string(from: now)
    }
}

/// `YYYY-MM-DD` dates in Europe/London.
public enum CalendarDate {
    public static func isValid(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-") else { return false }
        let digitPositions = [0, 1, 2, 3, 5, 6, 8, 9]
        guard digitPositions.allSatisfy({ bytes[$0] >= 0x30 && bytes[$0] <= 0x39 }) else { return false }
        func number(_ range: Range<Int>) -> Int { range.reduce(0) { $0 * 10 + Int(bytes[$1] - 0x30) } }
        let year = number(0..<4)
        let month = number(5..<7)
        let day = number(8..<10)
        guard year >= 1, (1...12).contains(month), day >= 1 else { return false }
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
        let lengths = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        return day <= lengths[month - 1]
    }

    /// Whole years from `birthDate` to `date` (both `YYYY-MM-DD`): someone born on 29 February
    /// has their birthday on 1 March in other years. Nil when either is not a date.
    public static func age(birthDate: String, on date: String) -> Int? {
        guard isValid(birthDate), isValid(date), let (birthYear, birthMonth, birthDay) = LondonTime.fields(of: birthDate),
            let (year, month, day) = LondonTime.fields(of: date)
        else { return nil }
        let beforeBirthday = (month, day) < (birthMonth, birthDay)
        return max(0, year - birthYear - (beforeBirthday ? 1 : 0))
    }

    /// The date in Europe/London at `date`, by `LondonTime`'s arithmetic in the years whose clocks
    /// follow today's rule (1996 to 2099); other years ask the time zone database.
    public static func string(from date: Date) -> String {
        let seconds = date.timeIntervalSince1970
        guard seconds >= 820_454_400, seconds < 4_102_444_800 else { return zoneString(from: date) }
        let local = LondonTime(date)
        func padded(_ value: Int, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return padded(local.year, 4) + "-" + padded(local.month, 2) + "-" + padded(local.dayOfMonth, 2)
    }

    /// The same, always from the time zone database.
    static func zoneString(from date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "Europe/London") ?? .gmt
        let parts = calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0)
    }
}
