import ReferralModel

/// How codes in FHIR messages that come in become the gateway's own terms: which needs a
/// `ServiceRequest`'s codes ask for, how urgent it is, and which `Flag`s are safeguarding concerns.
/// Configured in switchboard.yaml (`fhir_in`); a code that maps to nothing is never guessed at.
public struct FHIRConceptMap: Sendable, Equatable {
    public struct NeedEntry: Sendable, Equatable {
        public var system: String
        public var code: String
        public var need: String
        public init(system: String, code: String, need: String) {
            self.system = system
            self.code = code
            self.need = need
        }
    }

    public struct UrgencyEntry: Sendable, Equatable {
        public var system: String
        public var code: String
        public var urgency: Urgency
        public init(system: String, code: String, urgency: Urgency) {
            self.system = system
            self.code = code
            self.urgency = urgency
        }
    }

    public var needs: [NeedEntry]
    public var urgency: [UrgencyEntry]
    /// `Flag` codes (or categories) that mean a safeguarding concern.
    public var safeguarding: [FHIRCoding]

    public init(needs: [NeedEntry] = [], urgency: [UrgencyEntry] = [], safeguarding: [FHIRCoding] = []) {
        self.needs = needs
        self.urgency = urgency
        self.safeguarding = safeguarding
    }

    /// FHIR's request priority (`ServiceRequest.priority`) as an urgency: `stat` and `asap` are
    /// emergencies (asap is "higher priority than urgent"), `urgent` urgent, `routine` routine.
    public static func urgency(priority: String) -> Urgency? {
        switch priority {
        case "routine": .routine
        case "urgent": .urgent
        case "asap", "stat": .emergency
        default: nil
        }
    }

    /// The need a coding asks for: a `fhir_in.needs` entry, else the SNOMED CT concept the
    /// deployment sends that need as (switchboard.yaml `needs[].snomed`), so what the gateway sends
    /// it also reads.
    public func need(for coding: FHIRCoding, vocabulary: NeedsVocabulary) -> String? {
        if let entry = needs.first(where: { $0.system == coding.system && $0.code == coding.code }) { return entry.need }
        return vocabulary.codings.first { $0.value.system == coding.system && $0.value.code == coding.code }?.key
    }

    public func urgency(for coding: FHIRCoding) -> Urgency? {
        urgency.first { $0.system == coding.system && $0.code == coding.code }?.urgency
    }

    /// BaRS's own safeguarding Flag category (`flag-categories-bars` `SG`), and the codes configured.
    public func isSafeguarding(_ coding: FHIRCoding) -> Bool {
        (coding.system == BaRS.flagCategorySystem && coding.code == "SG")
            || safeguarding.contains { $0.system == coding.system && $0.code == coding.code }
    }
}
