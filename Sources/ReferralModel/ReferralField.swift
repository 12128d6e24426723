/// The fields of a referral an agency may be sent, named by their JSON Pointer. Adapters declare
/// which they map, agencies may withhold some, and the audit log records which were sent.
public enum ReferralField: String, Sendable, CaseIterable, Hashable, Comparable {
    case referrerOrganisation = "/referrer/organisation"
    case referrerName = "/referrer/name"
    case referrerRole = "/referrer/role"
    case referrerPhone = "/referrer/phone"
    case referrerEmail = "/referrer/email"
    case referrerOrganisationName = "/referrer/organisationName"
    case nhsNumber = "/subject/nhsNumber"
    case givenName = "/subject/givenName"
    case familyName = "/subject/familyName"
    case birthDate = "/subject/birthDate"
    case address = "/subject/address"
    case postcode = "/subject/postcode"
    case subjectPhone = "/subject/phone"
    case preferredLanguage = "/subject/preferredLanguage"
    case interpreterNeeded = "/subject/interpreterNeeded"
    case gender = "/subject/gender"
    case registeredPractice = "/subject/registeredPractice"
    case needs = "/needs"
    case urgency = "/urgency"
    case reason = "/reason"
    case consent = "/consent/status"
    case safeguarding = "/safeguarding"
    case externalReference = "/externalReference"
    case respondBy = "/respondBy"
    case expectedDischargeDate = "/expectedDischargeDate"

    public static func < (lhs: ReferralField, rhs: ReferralField) -> Bool { lhs.rawValue < rhs.rawValue }

    /// Fields every delivery carries: without them an agency cannot tell who the referral is about,
    /// what is needed, how soon, or on what basis it is shared.
    public static let essential: Set<ReferralField> = [
        .referrerOrganisation, .givenName, .familyName, .birthDate, .postcode, .needs, .urgency, .consent,
    ]

    /// Fields that identify the person or carry free text about them. Routing rules may not test
    /// them: a rule's text is stored, versioned and shown to administrators, and routing on a name
    /// or an NHS number would put personal data there.
    public static let identifying: Set<ReferralField> = [
        .referrerName, .referrerPhone, .referrerEmail, .nhsNumber, .givenName, .familyName, .birthDate, .address, .subjectPhone,
        .reason, .externalReference,
    ]

    /// The field's name in templates and messages, without the leading slash: `subject/nhsNumber`.
    public var path: String { String(rawValue.dropFirst()) }

    /// Whether `referral` has a value for this field.
    public func isPresent(in referral: Referral) -> Bool {
        switch self {
        case .referrerRole: referral.referrer.role != nil
        case .referrerPhone: referral.referrer.phone != nil
        case .referrerEmail: referral.referrer.email != nil
        case .nhsNumber: referral.subject.nhsNumber != nil
        case .address: referral.subject.address != nil
        case .subjectPhone: referral.subject.phone != nil
        case .preferredLanguage: referral.subject.preferredLanguage != nil
        case .interpreterNeeded: referral.subject.interpreterNeeded != nil
        case .referrerOrganisationName: referral.referrer.organisationName != nil
        case .gender: referral.subject.gender != nil
        case .registeredPractice: referral.subject.registeredPractice != nil
        case .safeguarding: referral.safeguarding != nil
        case .externalReference: referral.externalReference != nil
        case .respondBy: referral.respondBy != nil
        case .expectedDischargeDate: referral.expectedDischargeDate != nil
        default: true
        }
    }
}

extension Referral {
    /// The text a required free-text field carries when an agency's agreement withholds it.
    public static let withheldText = "[withheld under this agency's data-sharing agreement]"

    /// A copy with `fields` removed: optional fields are left out; the referrer's name and the
    /// reason, which the schema requires, carry `withheldText` instead.
    public func withholding(_ fields: Set<ReferralField>) -> Referral {
        guard !fields.isEmpty else { return self }
        var copy = self
        for field in fields {
            switch field {
            case .referrerName: copy.referrer.name = Self.withheldText
            case .referrerRole: copy.referrer.role = nil
            case .referrerPhone: copy.referrer.phone = nil
            case .referrerEmail: copy.referrer.email = nil
            case .nhsNumber: copy.subject.nhsNumber = nil
            case .address: copy.subject.address = nil
            case .subjectPhone: copy.subject.phone = nil
            case .preferredLanguage: copy.subject.preferredLanguage = nil
            case .interpreterNeeded: copy.subject.interpreterNeeded = nil
            case .referrerOrganisationName: copy.referrer.organisationName = nil
            case .gender: copy.subject.gender = nil
            case .registeredPractice: copy.subject.registeredPractice = nil
            case .reason: copy.reason = Self.withheldText
            case .safeguarding: copy.safeguarding = nil
            case .externalReference: copy.externalReference = nil
            case .respondBy: copy.respondBy = nil
            case .expectedDischargeDate: copy.expectedDischargeDate = nil
            case .referrerOrganisation, .givenName, .familyName, .birthDate, .postcode, .needs, .urgency, .consent:
                break  // essential: never withheld (configuration refuses it)
            }
        }
        return copy
    }
}
