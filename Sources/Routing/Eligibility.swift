import Foundation
import ReferralModel
import Settings

/// Who may receive a referral at all, whatever the rules chose: the consent policy (a referral
/// shared without consent goes only to safeguarding recipients, and, when the share is to protect
/// life, to agencies marked `vital_interests`) and the ages an agency serves. Routing, re-routing
/// and an administrator's re-route all ask the same question here.
public struct Eligibility: Sendable {
    /// Why the referral may go only to `recipients`; nil when consent restricts nothing.
    public let consentRestriction: String?
    /// The agencies a restricted referral may go to; empty when consent restricts nothing.
    public let recipients: Set<AgencyID>
    /// The subject's age in whole years on the day of referral (Europe/London).
    public let age: Int?
    private let directory: AgencyDirectory

    init(referral: Referral, receivedAt: Date, rules: RuleSet) {
        directory = rules.directory
        consentRestriction = rules.consentRestriction(referral)
        // Most referrals have consent: the recipients are worked out only for those that do not.
        let protectsLife = consentRestriction != nil && Self.protectsLife(referral)
        recipients =
            consentRestriction == nil
            ? []
            : Set(rules.directory.agencies.lazy.filter { $0.safeguardingRecipient || (protectsLife && $0.vitalInterests) }.map(\.id))
        age = CalendarDate.age(birthDate: referral.subject.birthDate, on: CalendarDate.string(from: receivedAt))
    }

    /// Whether the lawful basis recorded for sharing without consent is to protect someone's life:
    /// `vital-interests`, or the statutory `safeguarding` duty for a safeguarding need.
    static func protectsLife(_ referral: Referral) -> Bool {
        switch referral.consent.lawfulBasis {
        case .vitalInterests: true
        case .safeguarding: referral.needs.contains { $0.hasPrefix("safeguarding") }
        default: false
        }
    }

    /// A child on the day of referral: under 18.
    public var isChild: Bool { (age ?? 18) < 18 }

    /// Why `agency` may not receive the referral, or nil when it may.
    /// - Parameter consent: false to ask about age alone (the fallback of a deployment with no
    ///   safeguarding recipient is the one place a referral shared without consent may go).
    public func refusal(for agency: AgencyID, consent: Bool = true) -> String? {
        if consent, let restriction = consentRestriction, !recipients.contains(agency) {
            return restriction
        }
        if let age, let ages = directory[agency]?.ages, !ages.contains(age) {
            return "aged \(age); \(agency) serves \(ages.words)"
        }
        return nil
    }

    public func mayReceive(_ agency: AgencyID) -> Bool { directory[agency] != nil && refusal(for: agency) == nil }
}

/// What routing knows of each agency's lane from the delivery engine: paused by an operator,
/// disabled, or its circuit open. An emergency or urgent referral is not left waiting on it.
public struct LaneConditions: Sendable, Equatable {
    /// Why each stopped agency cannot act, in words an audit trail can carry:
    /// `paused by ops-key (planned upgrade)`, `circuit open until 2026-…`.
    public var stopped: [AgencyID: String]

    public init(stopped: [AgencyID: String] = [:]) { self.stopped = stopped }

    public static let none = LaneConditions()
}

extension RuleSet {
    /// The eligibility of `referral`, received at `receivedAt`, for every agency.
    public func eligibility(of referral: Referral, at receivedAt: Date) -> Eligibility {
        Eligibility(referral: referral, receivedAt: receivedAt, rules: self)
    }

    /// Why `agency`'s people cannot act on a referral at `instant`, or nil when they can: its lane
    /// stopped, or outside its opening hours.
    public func whyCannotAct(_ agency: AgencyID, at instant: Date, lanes: LaneConditions) -> String? {
        if let stopped = lanes.stopped[agency] { return stopped }
        guard let hours = directory[agency]?.hours else { return nil }
        let window = TimeWindow(
            days: hours.days, from: hours.from, to: hours.to, bankHolidays: hours.closedOnBankHolidays ? .exclude : .include,
            holidays: bankHolidays)
        guard !window.contains(instant) else { return nil }
        return "closed (open \(window.summary))"
    }

    /// Whether `urgency` is one an agency that cannot act now is not waited on for.
    public static func cannotWait(_ urgency: Urgency) -> Bool { urgency != .routine }

    /// The agency a referral of `eligibility` goes to when nothing else remains: the children's
    /// fallback for a child (where one is set), the safeguarding fallback when consent restricts it,
    /// else the fallback; nil when even that one may not receive it.
    func lastResort(_ eligibility: Eligibility) -> (agency: AgencyID, rule: String)? {
        var candidates: [(AgencyID, String)] = []
        if eligibility.isChild, let childrenFallback { candidates.append((childrenFallback, Self.childrenFallbackRuleId)) }
        if eligibility.consentRestriction != nil, let safeguardingFallback {
            candidates.append((safeguardingFallback, Self.safeguardingFallbackRuleId))
        }
        candidates.append((fallback, Self.fallbackRuleId))
        if let found = candidates.first(where: { eligibility.mayReceive($0.0) }) { return (agency: found.0, rule: found.1) }
        // With no safeguarding recipient configured, the rules' own fallback is the one place a
        // referral shared without consent may go.
        if eligibility.consentRestriction != nil, safeguardingFallback == nil, eligibility.refusal(for: fallback, consent: false) == nil {
            return (agency: fallback, rule: Self.fallbackRuleId)
        }
        return nil
    }

    /// The rule id recorded when a child's referral goes to the children's fallback.
    public static let childrenFallbackRuleId = "children-fallback"
}
