import Audit
import Foundation
import ReferralModel
import Storage

/// Answering a person who asks what was shared about them: every referral about them, found by
/// blind index (by NHS number, or by family name and birth date), with its deliveries, the
/// agencies' answers, notes and audit events, as one document. Each search is audited with who
/// made it and why; each referral disclosed records that it was read.
public struct SubjectAccess: Sendable {
    let store: any SwitchboardStore
    let clock: any WallClock

    public init(store: any SwitchboardStore, clock: any WallClock) {
        self.store = store
        self.clock = clock
    }

    /// What a search disclosed: the search (never the value searched for), and each referral.
    public struct Disclosure: Sendable, Codable, Equatable {
        public var searchedAt: String
        public var searchedBy: String
        /// `nhsNumber`, or `familyName and birthDate`.
        public var search: String
        public var reason: String
        public var referrals: [Record]
    }

    /// One referral about the person, as the gateway holds it.
    public struct Record: Sendable, Codable, Equatable {
        public var id: ReferralID
        /// The referral as it was sent (and amended); nil once its personal data was removed.
        public var referral: Referral?
        /// Its status, deliveries and agencies' answers, notes and audit events.
        public var report: ReferralReport
        /// The message it came as (a BaRS Bundle), when it came in another format.
        public var originalMessage: Original?
    }

    public struct Original: Sendable, Codable, Equatable {
        public var mediaType: String
        public var body: String
    }

    /// Why a search cannot be made, with the parameter at fault.
    public struct Refusal: Error, Sendable, Equatable {
        public let parameter: String
        public let detail: String
    }

    /// Checks a search as a person asked for it: exactly one way of finding someone, and a reason.
    public static func search(nhsNumber: String?, familyName: String?, birthDate: String?, reason: String?) -> (
        search: PersonSearch?, reason: String, refusals: [Refusal]
    ) {
        var refusals: [Refusal] = []
        let reason = (reason ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        if reason.isEmpty {
            refusals.append(
                Refusal(parameter: "reason", detail: "is required: why the records are searched (a case reference, such as SAR-2026-114)."))
        } else if reason.count > 200 {
            refusals.append(Refusal(parameter: "reason", detail: "must be at most 200 characters."))
        }
        var search: PersonSearch?
        switch (nhsNumber, familyName, birthDate) {
        case (let number?, nil, nil):
            if BlindIndexKind.nhsNumber(number) == nil {
                refusals.append(Refusal(parameter: "nhsNumber", detail: "must be an NHS number: ten digits."))
            } else {
                search = .nhsNumber(number)
            }
        case (nil, let family?, let born?):
            if family.trimmingCharacters(in: .whitespaces).isEmpty {
                refusals.append(Refusal(parameter: "familyName", detail: "must not be empty."))
            }
            if !CalendarDate.isValid(born) {
                refusals.append(Refusal(parameter: "birthDate", detail: "must be a date, YYYY-MM-DD."))
            }
            search = .person(familyName: family, birthDate: born)
        case (nil, _?, nil), (nil, nil, _?):
            refusals.append(
                Refusal(
                    parameter: familyName == nil ? "familyName" : "birthDate",
                    detail: "is required with the other: give familyName and birthDate together."))
        default:
            refusals.append(Refusal(parameter: "nhsNumber", detail: "give nhsNumber, or familyName and birthDate, not both."))
        }
        return (refusals.isEmpty ? search : nil, Self.reasonForAudit(reason), refusals)
    }

    /// The reason as the audit trail keeps it: one line, and no long runs of digits (an NHS number
    /// or phone number typed into it by mistake).
    public static func reasonForAudit(_ reason: String) -> String {
        var kept = ""
        var digits = ""
        for character in reason.replacingOccurrences(of: "\n", with: " ") {
            if character.isASCII, character.isNumber {
                digits.append(character)
                continue
            }
            kept += digits.count >= 6 ? "#" : digits
            digits = ""
            kept.append(character)
        }
        kept += digits.count >= 6 ? "#" : digits
        return kept.replacingOccurrences(of: "'", with: "’")
    }

    /// Every referral about the person, read and audited.
    public func find(_ search: PersonSearch, reason: String, actor: String) async throws -> Disclosure {
        let now = clock.now()
        let ids = try await store.referralIds(about: search)
        var records: [Record] = []
        for id in ids {
            guard let report = try await store.report(referralId: id) else { continue }
            let referral = try await store.loopReferral(id)?.referral
            let original = try await store.originalMessage(referralId: id).map {
                Original(mediaType: $0.mediaType, body: String(decoding: $0.body, as: UTF8.self))
            }
            records.append(Record(id: id, referral: referral, report: report, originalMessage: original))
        }
        let searchedBy =
            switch search {
            case .nhsNumber: "nhsNumber"
            case .person: "familyName and birthDate"
            }
        try await store.appendAudit(
            [AuditNarrative.recordsSearched(at: now, by: actor, searchedBy: searchedBy, reason: reason, found: records.count)]
                + records.map {
                    AuditNarrative.referralViewed(referralId: $0.id, at: now, actor: actor, as: "in a subject access search ('\(reason)')")
                })
        return Disclosure(searchedAt: Timestamp.string(now), searchedBy: actor, search: searchedBy, reason: reason, referrals: records)
    }
}
