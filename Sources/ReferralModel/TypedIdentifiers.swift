import Foundation

/// An identifier with a type of its own: the same text on the wire, in the store and in the audit
/// trail, but a referral's id cannot be passed where an agency's or a delivery's is meant.
public protocol TypedIdentifier: RawRepresentable, Hashable, Comparable, Codable, Sendable, CustomStringConvertible,
    ExpressibleByStringInterpolation
where RawValue == String, StringLiteralType == String {
    init(_ text: String)
}

extension TypedIdentifier {
    public init(rawValue: String) { self.init(rawValue) }
    public init(stringLiteral value: String) { self.init(value) }
    public var description: String { rawValue }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A referral's id, issued by the gateway (a time-ordered UUID).
public struct ReferralID: TypedIdentifier {
    public let rawValue: String
    public init(_ text: String) { rawValue = text }

    /// A new id, ordered by `now`.
    public static func make(now: Date = Date()) -> ReferralID { ReferralID(Identifier.make(now: now)) }
}

/// One delivery's id: a referral (or a notice about it) on its way to one agency.
public struct DeliveryID: TypedIdentifier {
    public let rawValue: String
    public init(_ text: String) { rawValue = text }

    public static func make(now: Date = Date()) -> DeliveryID { DeliveryID(Identifier.make(now: now)) }
}

/// An agency's id, as agencies.yaml gives it.
public struct AgencyID: TypedIdentifier {
    public let rawValue: String
    public init(_ text: String) { rawValue = text }
}

/// Where routing sends a referral: one agency, the rule that chose it, the agencies to try in order
/// if it declines, and the needs it is told of (nil for all). What the rules decide, what intake
/// and re-routing store with each delivery, and what the audit trail records are this one type.
public struct RoutingTarget: Sendable, Equatable, Codable {
    public var agency: AgencyID
    public var rule: String
    public var alternatives: [AgencyID]
    public var needs: [String]?

    public init(agency: AgencyID, rule: String, alternatives: [AgencyID] = [], needs: [String]? = nil) {
        self.agency = agency
        self.rule = rule
        self.alternatives = alternatives
        self.needs = needs
    }
}

extension Sequence where Element: TypedIdentifier {
    /// The ids' text, joined, as a list of strings would be.
    public func joined(separator: String = "") -> String { map(\.rawValue).joined(separator: separator) }
}

extension Identifier {
    /// Whether `id` is shaped like an identifier this gateway issues.
    public static func isWellFormed<ID: TypedIdentifier>(_ id: ID) -> Bool { isWellFormed(id.rawValue) }
}
