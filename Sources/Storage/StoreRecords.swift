import Audit
import Foundation
import ReferralModel

/// Everything that must become durable together when a referral is accepted: the referral, its
/// routing decision, one delivery job per target agency (and any notice routing sends with it, such
/// as an alert to the on-call system), its attention item when it needs a person at once, and the
/// audit events.
public struct IntakeRecord: Sendable {
    public var referralId: ReferralID
    public var receivedAt: Date
    /// The API key id of the referrer.
    public var actor: String
    public var referral: Referral
    public var rulesVersion: String
    /// Each target agency's delivery (its route, alternatives, needs and deadline), then any notices.
    public var deliveries: [NewDelivery]
    public var audit: [AuditEntry]
    public var idempotency: IdempotencyClaim?
    /// Why a referral with no routes is held (`out-of-area`); nil for a routed one.
    public var held: ReferralStatus?
    /// The id of the HTTP request that brought it, which every log line of its deliveries carries.
    public var requestId: String?
    /// Opened with the referral when a person must look at it now (held, or waiting on an agency
    /// that cannot act with nobody to act instead).
    public var attention: AttentionItem?
    /// The message the referral was mapped from, when it came in another format (a BaRS Bundle).
    public var original: OriginalMessage?
    /// The personal data as the store writes it (sealed, with blind indexes): the store fills it in.
    public var stored: StoredIntake?

    public init(
        referralId: ReferralID, receivedAt: Date, actor: String, referral: Referral, rulesVersion: String, deliveries: [NewDelivery],
        audit: [AuditEntry], idempotency: IdempotencyClaim?, held: ReferralStatus? = nil
    ) {
        self.referralId = referralId
        self.receivedAt = receivedAt
        self.actor = actor
        self.referral = referral
        self.rulesVersion = rulesVersion
        self.deliveries = deliveries
        self.audit = audit
        self.idempotency = idempotency
        self.held = held
    }

    /// The agencies the referral was routed to: its deliveries that are not notices.
    public var routes: [Route] { deliveries.filter { $0.notice == nil }.map(\.route) }
}

/// A message as it arrived, kept with the referral it became: personal data, removed when the
/// referral's personal data is.
public struct OriginalMessage: Sendable, Equatable {
    public var mediaType: String
    public var body: [UInt8]
    public init(mediaType: String, body: [UInt8]) {
        self.mediaType = mediaType
        self.body = body
    }
}

/// A referrer's `Idempotency-Key` and a digest of the body it came with.
public struct IdempotencyClaim: Sendable, Equatable {
    public var key: String
    public var bodyDigest: String
    public init(key: String, bodyDigest: String) {
        self.key = key
        self.bodyDigest = bodyDigest
    }
}

/// What accepting a referral came to.
public enum IntakeOutcome: Sendable, Equatable {
    /// Stored; this is the receipt.
    case accepted(SubmissionReceipt)
    /// The same key and body were accepted before: the first receipt, nothing new stored.
    case replayed(SubmissionReceipt)
    /// The key was used before with a different body: nothing stored.
    case idempotencyConflict
}

/// A delivery job leased to one worker until `leaseExpiresAt`.
public struct LeasedDelivery: Sendable {
    public var deliveryId: DeliveryID
    public var referralId: ReferralID
    public var agency: AgencyID
    public var rule: String
    /// 1 for the first attempt.
    public var attempt: Int
    public var leaseToken: String
    public var referral: Referral
    public var receivedAt: Date
    /// The needs this agency is told of; nil for all the referral names.
    public var needs: [String]?
    /// What is sent: the referral itself, or a notice about it (a cancellation).
    public var notice: ReferralNotice?
    /// The id of the request that brought the referral in; nil for referrals stored before ids were kept.
    public var requestId: String?

    public init(
        deliveryId: DeliveryID, referralId: ReferralID, agency: AgencyID, rule: String, attempt: Int, leaseToken: String, referral: Referral,
        receivedAt: Date, needs: [String]? = nil, notice: ReferralNotice? = nil
    ) {
        self.notice = notice
        self.needs = needs
        self.deliveryId = deliveryId
        self.referralId = referralId
        self.agency = agency
        self.rule = rule
        self.attempt = attempt
        self.leaseToken = leaseToken
        self.referral = referral
        self.receivedAt = receivedAt
    }
}

/// How one delivery attempt ended, as the dispatcher records it.
public enum AttemptResult: Sendable, Equatable {
    case delivered(agencyReference: String?)
    /// Delivered, and taken on by the agency's system in the same reply.
    case accepted(agencyReference: String?)
    case retry(at: Date, error: String)
    case deadLetter(error: String)
}

/// One postcode of the postcode directory, and the local authorities (GSS codes) it lies in: its
/// district or unitary authority, and its county where it has one.
public struct PostcodePlace: Sendable, Equatable {
    /// Normalised, `OX1 2JD`.
    public var postcode: String
    public var localAuthorities: [String]

    public init(postcode: String, localAuthorities: [String]) {
        self.postcode = postcode
        self.localAuthorities = localAuthorities
    }
}

/// Where the live postcode directory came from.
public struct PostcodeDirectoryInfo: Sendable, Equatable, Codable {
    public var importedAt: Date
    public var importedBy: String
    /// The file's name (not its path).
    public var source: String
    public var postcodes: Int
    public var localAuthorities: Int

    public init(importedAt: Date, importedBy: String, source: String, postcodes: Int, localAuthorities: Int) {
        self.importedAt = importedAt
        self.importedBy = importedBy
        self.source = source
        self.postcodes = postcodes
        self.localAuthorities = localAuthorities
    }
}
