import Foundation

/// How quickly the receiving organisation must act, with one definition everywhere (the schema,
/// the API, adapters): the time by which it is expected to acknowledge the referral.
public enum Urgency: String, Sendable, Codable, CaseIterable {
    /// Acknowledge within two working days.
    case routine
    /// Acknowledge within four working hours.
    case urgent
    /// Act within hours: acknowledge within one hour, at any time of day.
    case emergency

    /// The definition, as the schema and the documentation state it.
    public var definition: String {
        switch self {
        case .routine: "acknowledge within 2 working days"
        case .urgent: "acknowledge within 4 working hours"
        case .emergency: "act within hours; acknowledge within 1 hour, at any time"
        }
    }
}

/// The person's administrative gender, as FHIR's `AdministrativeGender` value set has it: what a
/// receiving system records, not a clinical fact. Optional; absent means not known.
public enum AdministrativeGender: String, Sendable, Codable, CaseIterable {
    case male, female, other, unknown
}

/// The lawful basis on which the referral shares the person's information.
public enum ConsentStatus: String, Sendable, Codable, CaseIterable {
    case given, refused
    case notRequired = "not-required"
    case bestInterests = "best-interests"
}

/// Why information may be shared without the person's consent: the UK GDPR Article 6 bases that
/// apply when consent is refused or not the basis.
public enum LawfulBasis: String, Sendable, Codable, CaseIterable {
    /// To protect someone's life (Article 6(1)(d)).
    case vitalInterests = "vital-interests"
    /// A public function or statutory duty other than safeguarding (Article 6(1)(e)).
    case publicTask = "public-task"
    /// A legal obligation, such as a court order (Article 6(1)(c)).
    case legalObligation = "legal-obligation"
    /// The statutory duty to safeguard: a Care Act 2014 section 42 enquiry for an adult, a Children
    /// Act 1989 section 47 enquiry for a child (Article 6(1)(e), with the duty to share of Caldicott
    /// principle 7).
    case safeguarding
}

/// The canonical referral, version 1: one referral about one person, as referrers send it and
/// adapters read it. Field names and limits are those of `config/schema/referral.v1.json`.
public struct Referral: Sendable, Codable, Equatable {
    public struct Referrer: Sendable, Codable, Equatable {
        /// The referring organisation's code, of the kind `organisationType` says (an ODS code when
        /// it says nothing, as in referral v1).
        public var organisation: String
        public var name: String
        public var role: String?
        public var phone: String?
        public var email: String?
        /// What kind of code `organisation` is; nil means an ODS code.
        public var organisationType: OrganisationType?
        /// The referring organisation's name, for receivers that show it (FHIR `Organization.name`).
        public var organisationName: String?

        public init(
            organisation: String, name: String, role: String? = nil, phone: String? = nil, email: String? = nil,
            organisationType: OrganisationType? = nil, organisationName: String? = nil
        ) {
            self.organisationType = organisationType
            self.organisationName = organisationName
            self.organisation = organisation
            self.name = name
            self.role = role
            self.phone = phone
            self.email = email
        }
    }

    public struct Subject: Sendable, Codable, Equatable {
        /// Ten digits, no spaces, check digit verified.
        public var nhsNumber: String?
        public var givenName: String
        public var familyName: String
        /// `YYYY-MM-DD`.
        public var birthDate: String
        public var address: String?
        /// Normalised, for example `OX1 2JD`.
        public var postcode: String
        public var phone: String?
        public var preferredLanguage: String?
        public var interpreterNeeded: Bool?
        public var gender: AdministrativeGender?
        /// The ODS code of the GP practice the person is registered with.
        public var registeredPractice: String?

        public init(
            nhsNumber: String? = nil, givenName: String, familyName: String, birthDate: String, address: String? = nil,
            postcode: String, phone: String? = nil, preferredLanguage: String? = nil, interpreterNeeded: Bool? = nil,
            gender: AdministrativeGender? = nil, registeredPractice: String? = nil
        ) {
            self.gender = gender
            self.registeredPractice = registeredPractice
            self.nhsNumber = nhsNumber
            self.givenName = givenName
            self.familyName = familyName
            self.birthDate = birthDate
            self.address = address
            self.postcode = postcode
            self.phone = phone
            self.preferredLanguage = preferredLanguage
            self.interpreterNeeded = interpreterNeeded
        }
    }

    /// On what basis the person's information is shared, and, when not on their consent, who
    /// decided and when.
    public struct Consent: Sendable, Codable, Equatable {
        public var status: ConsentStatus
        /// When consent is refused or not the basis: the lawful basis for sharing anyway.
        public var lawfulBasis: LawfulBasis?
        /// Who decided to share without consent, or made the best-interests decision: a name and role.
        public var decisionMaker: String?
        /// When that decision was made, RFC 3339.
        public var decidedAt: String?
        /// For a best-interests decision: who assessed that the person lacks capacity to decide.
        public var capacityAssessedBy: String?
        /// For a child's consent: who, with parental responsibility for the child, gave it (a name
        /// and relationship).
        public var parentalResponsibility: String?
        /// For a child under 16 who gave consent themselves: assessed as Gillick competent.
        public var gillickCompetent: Bool?

        public init(
            status: ConsentStatus, lawfulBasis: LawfulBasis? = nil, decisionMaker: String? = nil, decidedAt: String? = nil,
            capacityAssessedBy: String? = nil, parentalResponsibility: String? = nil, gillickCompetent: Bool? = nil
        ) {
            self.parentalResponsibility = parentalResponsibility
            self.gillickCompetent = gillickCompetent
            self.status = status
            self.lawfulBasis = lawfulBasis
            self.decisionMaker = decisionMaker
            self.decidedAt = decidedAt
            self.capacityAssessedBy = capacityAssessedBy
        }
    }

    public var referrer: Referrer
    public var subject: Subject
    public var needs: [String]
    public var urgency: Urgency
    public var reason: String
    public var consent: Consent
    public var safeguarding: Bool?
    public var externalReference: String?
    /// When given, the time by which the receiving organisation must respond (RFC 3339), in place
    /// of the urgency's default.
    public var respondBy: String?
    /// For a hospital discharge referral: the date the person is expected to leave hospital.
    public var expectedDischargeDate: String?

    public init(
        referrer: Referrer, subject: Subject, needs: [String], urgency: Urgency, reason: String, consent: Consent,
        safeguarding: Bool? = nil, externalReference: String? = nil, respondBy: String? = nil, expectedDischargeDate: String? = nil
    ) {
        self.respondBy = respondBy
        self.expectedDischargeDate = expectedDischargeDate
        self.referrer = referrer
        self.subject = subject
        self.needs = needs
        self.urgency = urgency
        self.reason = reason
        self.consent = consent
        self.safeguarding = safeguarding
        self.externalReference = externalReference
    }
}

/// The limits the schema publishes; the decoder enforces exactly these.
public enum ReferralLimits {
    public static let nameLength = 100
    public static let reasonLength = 10_000
    public static let addressLength = 500
    public static let phoneLength = 30
    public static let emailLength = 254
    public static let roleLength = 100
    public static let languageLength = 50
    public static let externalReferenceLength = 100
    public static let maximumNeeds = 20
}

/// The controlled vocabulary of needs a deployment accepts, and which of them may be shared without
/// the person's consent.
public struct NeedsVocabulary: Sendable, Equatable {
    public let codes: [String]
    /// Needs for which a referral may be shared without consent, because someone is at risk of harm.
    public let consentExempt: Set<String>
    /// The SNOMED CT concept each need is sent as, where the deployment configured one; messages
    /// that carry codes (FHIR) send a need without one as text only, never with an invented code.
    public let codings: [String: Coding]

    /// - Parameter consentExempt: the needs that do not require consent; by default the
    ///   safeguarding needs (codes starting `safeguarding`), and no other.
    public init(_ codes: [String], consentExempt: Set<String>? = nil, codings: [String: Coding] = [:]) {
        self.codes = codes
        self.consentExempt = consentExempt ?? Set(codes.filter { $0.hasPrefix("safeguarding") })
        self.codings = codings
    }

    /// Whether sharing a referral for `need` requires the person's consent.
    public func requiresConsent(_ need: String) -> Bool { !consentExempt.contains(need) }

    /// The vocabulary `config/schema/referral.v1.json` publishes, from DOMAIN.md.
    public static let standard = NeedsVocabulary([
        "adult-social-care", "safeguarding-adult", "safeguarding-child", "falls-prevention", "reablement", "district-nursing",
        "mental-health-crisis", "housing-support", "carers-support", "befriending", "substance-misuse",
    ])
}
