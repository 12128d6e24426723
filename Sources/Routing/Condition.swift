import Foundation
import ReferralModel

/// What a rule is evaluated against: the referral and when it was received.
public struct RoutingInput: Sendable {
    public let referral: Referral
    public let receivedAt: Date
    /// The subject's postcode as area, district, sector and unit: computed once, read by every
    /// postcode test and by the rule index.
    let postcodePrefixes: [String]
    /// When it was received, in Europe/London: computed once, read by ages and time windows.
    let local: LondonTime
    /// The GSS codes of the local authorities (district or unitary, and county) the postcode
    /// directory places the subject's postcode in; empty when it has no entry for it.
    public let localAuthorities: Set<String>

    public init(referral: Referral, receivedAt: Date, localAuthorities: Set<String> = []) {
        self.referral = referral
        self.localAuthorities = localAuthorities
        self.receivedAt = receivedAt
        postcodePrefixes = Postcode.prefixes(of: referral.subject.postcode)
        local = LondonTime(receivedAt)
    }

    /// The subject's age in whole years on the day the referral was received (Europe/London).
    var age: Int {
        guard let (year, month, day) = LondonTime.fields(of: referral.subject.birthDate) else { return 0 }
        // Not yet had this year's birthday: today's month and day come before the birthday's.
        let beforeBirthday = (local.month, local.dayOfMonth) < (month, day)
        return local.year - year - (beforeBirthday ? 1 : 0)
    }
}

/// A compiled regular expression, run in time linear in the text (`LinearPattern`), so no rule
/// can be written that burns the intake's CPU on a crafted field.
public struct RulePattern: Sendable, Equatable {
    public let source: String
    let pattern: LinearPattern

    init(_ source: String) throws(LinearPattern.SyntaxError) {
        self.source = source
        pattern = try LinearPattern(source)
    }

    func matches(_ text: String) -> Bool {
        pattern.matches(text)
    }

    public static func == (lhs: RulePattern, rhs: RulePattern) -> Bool { lhs.source == rhs.source }
}

/// A test on one referral field, by its path.
public enum FieldTest: Sendable, Equatable {
    case equals(String)
    case oneOf([String])
    case exists(Bool)
    case prefix(String)
    case contains(String)
    case matches(RulePattern)
}

/// A condition on a referral. A `when` mapping with several keys means all of them.
public indirect enum Condition: Sendable, Equatable {
    case all([Condition])
    case any([Condition])
    case not(Condition)
    /// The referral names at least one of these needs.
    case needsAny([String])
    case urgencyIn([Urgency])
    /// The subject's postcode is in one of these areas, districts, sectors or units (`OX`, `OX1`, `OX1 2`).
    case postcodeIn([String])
    /// The postcode directory places the subject's postcode in one of these local authorities (GSS
    /// codes: a county such as `E10000025`, or a district or unitary authority).
    case localAuthorityIn([String])
    /// The referral's safeguarding flag is stated as this (true or false), or, for nil, not stated:
    /// a flag the referrer did not give matches neither true nor false.
    case safeguarding(Bool?)
    case field(ReferralField, FieldTest)
    /// The subject's age in whole years on the day received, within the bounds (inclusive).
    case age(min: Int?, max: Int?)
    /// Received within the window, Europe/London local time.
    case time(TimeWindow)
    case always

    /// Whether the condition holds. The routing hot path: it builds no explanation.
    func holds(_ input: RoutingInput) -> Bool {
        let referral = input.referral
        switch self {
        case .all(let conditions):
            for condition in conditions where !condition.holds(input) { return false }
            return true
        case .any(let conditions):
            for condition in conditions where condition.holds(input) { return true }
            return false
        case .not(let condition):
            return !condition.holds(input)
        case .needsAny(let needs):
            for need in needs where referral.needs.contains(need) { return true }
            return false
        case .urgencyIn(let levels):
            return levels.contains(referral.urgency)
        case .postcodeIn(let prefixes):
            for prefix in prefixes where input.postcodePrefixes.contains(prefix) { return true }
            return false
        case .localAuthorityIn(let codes):
            for code in codes where input.localAuthorities.contains(code) { return true }
            return false
        case .safeguarding(let flag):
            return referral.safeguarding == flag
        case .field(let field, let test):
            return Self.test(field, test, referral)
        case .age(let minimum, let maximum):
            let age = input.age
            return (minimum.map { age >= $0 } ?? true) && (maximum.map { age <= $0 } ?? true)
        case .time(let window):
            return window.contains(input.local)
        case .always:
            return true
        }
    }

    /// Nil when the condition holds; otherwise the part that failed, in words an administrator reads.
    func failure(_ input: RoutingInput) -> String? {
        let referral = input.referral
        switch self {
        case .all(let conditions):
            for condition in conditions { if let failed = condition.failure(input) { return failed } }
            return nil
        case .any(let conditions):
            let failures = conditions.compactMap { $0.failure(input) }
            return failures.count == conditions.count ? "none of: " + failures.joined(separator: "; ") : nil
        case .not(let condition):
            return condition.failure(input) == nil ? "not (\(condition.summary)) is false" : nil
        case .needsAny(let needs):
            return needs.contains(where: referral.needs.contains)
                ? nil : "needs \(referral.needs.joined(separator: ", ")) include none of \(needs.joined(separator: ", "))"
        case .urgencyIn(let levels):
            return levels.contains(referral.urgency)
                ? nil : "urgency \(referral.urgency.rawValue) is not \(levels.map(\.rawValue).joined(separator: " or "))"
        case .postcodeIn(let prefixes):
            return prefixes.contains(where: input.postcodePrefixes.contains)
                ? nil : "postcode \(referral.subject.postcode) is not in \(prefixes.joined(separator: ", "))"
        case .localAuthorityIn(let codes):
            if codes.contains(where: input.localAuthorities.contains) { return nil }
            return input.localAuthorities.isEmpty
                ? "the postcode directory has no local authority for postcode \(referral.subject.postcode)"
                : "postcode \(referral.subject.postcode) is in \(input.localAuthorities.sorted().joined(separator: " and ")), not \(codes.joined(separator: " or "))"
        case .safeguarding(let flag):
            return referral.safeguarding == flag ? nil : "safeguarding is not \(flag.map(String.init) ?? "unknown")"
        case .field(let field, let test):
            return Self.check(field, test, referral)
        case .age(let minimum, let maximum):
            let age = input.age
            if let minimum, age < minimum { return "age \(age) is under \(minimum)" }
            if let maximum, age > maximum { return "age \(age) is over \(maximum)" }
            return nil
        case .time(let window):
            return window.contains(input.local) ? nil : "received \(TimeWindow.describe(input.receivedAt)), outside \(window.summary)"
        case .always:
            return nil
        }
    }

    /// The local authorities the condition names anywhere in it.
    var localAuthorities: Set<String> {
        switch self {
        case .all(let parts), .any(let parts): parts.reduce(into: []) { $0.formUnion($1.localAuthorities) }
        case .not(let condition): condition.localAuthorities
        case .localAuthorityIn(let codes): Set(codes)
        default: []
        }
    }

    /// The condition in words, for explanations.
    var summary: String {
        switch self {
        case .all(let conditions): conditions.map(\.summary).joined(separator: " and ")
        case .any(let conditions): "any of (" + conditions.map(\.summary).joined(separator: "; ") + ")"
        case .not(let condition): "not (\(condition.summary))"
        case .needsAny(let needs): "needs any of \(needs.joined(separator: ", "))"
        case .urgencyIn(let levels): "urgency \(levels.map(\.rawValue).joined(separator: " or "))"
        case .postcodeIn(let prefixes): "postcode in \(prefixes.joined(separator: ", "))"
        case .localAuthorityIn(let codes): "local authority \(codes.joined(separator: " or "))"
        case .safeguarding(let flag): "safeguarding \(flag.map(String.init) ?? "unknown")"
        case .field(let field, let test): "\(field.path) \(test)"
        case .age(let minimum, let maximum): "age \(minimum.map(String.init) ?? "any")–\(maximum.map(String.init) ?? "any")"
        case .time(let window): window.summary
        case .always: "always"
        }
    }

    /// The text values a field holds (a list for needs); nil when absent.
    static func values(_ field: ReferralField, _ referral: Referral) -> [String]? {
        switch field {
        case .referrerOrganisation: [referral.referrer.organisation]
        case .referrerName: [referral.referrer.name]
        case .referrerRole: referral.referrer.role.map { [$0] }
        case .referrerPhone: referral.referrer.phone.map { [$0] }
        case .referrerEmail: referral.referrer.email.map { [$0] }
        case .nhsNumber: referral.subject.nhsNumber.map { [$0] }
        case .givenName: [referral.subject.givenName]
        case .familyName: [referral.subject.familyName]
        case .birthDate: [referral.subject.birthDate]
        case .address: referral.subject.address.map { [$0] }
        case .postcode: [referral.subject.postcode]
        case .subjectPhone: referral.subject.phone.map { [$0] }
        case .preferredLanguage: referral.subject.preferredLanguage.map { [$0] }
        case .interpreterNeeded: referral.subject.interpreterNeeded.map { [String($0)] }
        case .referrerOrganisationName: referral.referrer.organisationName.map { [$0] }
        case .gender: referral.subject.gender.map { [$0.rawValue] }
        case .registeredPractice: referral.subject.registeredPractice.map { [$0] }
        case .needs: referral.needs
        case .urgency: [referral.urgency.rawValue]
        case .reason: [referral.reason]
        case .consent: [referral.consent.status.rawValue]
        case .safeguarding: referral.safeguarding.map { [String($0)] }
        case .externalReference: referral.externalReference.map { [$0] }
        case .respondBy: referral.respondBy.map { [$0] }
        case .expectedDischargeDate: referral.expectedDischargeDate.map { [$0] }
        }
    }

    static func test(_ field: ReferralField, _ test: FieldTest, _ referral: Referral) -> Bool {
        let values = Self.values(field, referral)
        switch test {
        case .exists(let expected): return (values != nil) == expected
        case .equals(let expected): return values?.contains(expected) ?? false
        case .oneOf(let expected): return values?.contains(where: expected.contains) ?? false
        case .prefix(let expected): return values?.contains { $0.hasPrefix(expected) } ?? false
        case .contains(let expected): return values?.contains { $0 == expected || $0.contains(expected) } ?? false
        case .matches(let pattern): return values?.contains(where: pattern.matches) ?? false
        }
    }

    static func check(_ field: ReferralField, _ test: FieldTest, _ referral: Referral) -> String? {
        // The value itself is personal data: say which test failed, not what the value was.
        Self.test(field, test, referral) ? nil : "\(field.path) does not satisfy \(test)"
    }
}

extension FieldTest: CustomStringConvertible {
    public var description: String {
        switch self {
        case .equals(let value): "equals '\(value)'"
        case .oneOf(let values): "in [\(values.joined(separator: ", "))]"
        case .exists(let flag): flag ? "exists" : "is absent"
        case .prefix(let value): "starts with '\(value)'"
        case .contains(let value): "contains '\(value)'"
        case .matches(let pattern): "matches /\(pattern.source)/"
        }
    }
}
