import Foundation
import ReferralModel

/// The request an adapter wants sent to an agency. The core adds signing, transport, retries
/// and audit; the adapter only says what the agency's system expects to receive.
public struct OutboundRequest: Sendable, Equatable {
    public var method: String
    /// Appended to the agency's endpoint; empty to post to the endpoint itself.
    public var path: String
    public var headers: [Header]
    public var body: [UInt8]
    public var contentType: String

    public struct Header: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    public init(method: String = "POST", path: String = "", headers: [Header] = [], body: [UInt8], contentType: String) {
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.contentType = contentType
    }
}

/// What the agency's endpoint answered.
public struct AgencyReply: Sendable, Equatable {
    public var status: Int
    public var headers: [OutboundRequest.Header]
    public var body: [UInt8]

    public init(status: Int, headers: [OutboundRequest.Header] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public func header(_ name: String) -> String? {
        headers.last { $0.name.lowercased() == name.lowercased() }?.value
    }
}

/// How one delivery attempt ended, as the adapter reads the agency's reply.
public enum DeliveryOutcome: Sendable, Equatable {
    /// The agency has it; `agencyReference` is its own id for the referral, if it sent one.
    case delivered(agencyReference: String?)
    /// The agency's system took it on in its reply: the delivery is accepted at once, as if the
    /// agency had answered `accepted` through the API.
    case accepted(agencyReference: String?)
    /// Worth trying again later; `retryAfter` seconds when the agency asked for a delay.
    case retryable(reason: String, retryAfter: Double?)
    /// Trying again will not help; an administrator must act.
    case permanent(reason: String)
}

/// The facts about one delivery that an adapter may put in its request.
public struct DeliveryContext: Sendable, Equatable {
    /// Stable across retries, so the agency can drop duplicates.
    public var deliveryId: String
    public var referralId: String
    public var agencyId: String
    /// The rule that routed the referral to this agency.
    public var rule: String
    public var receivedAt: Date
    /// Fields the agency's agreement withholds: already removed from the referral the adapter is
    /// given; an adapter leaves them out rather than printing the placeholder where it can.
    public var withheld: Set<ReferralField>

    public init(
        deliveryId: String, referralId: String, agencyId: String, rule: String, receivedAt: Date, withheld: Set<ReferralField> = []
    ) {
        self.deliveryId = deliveryId
        self.referralId = referralId
        self.agencyId = agencyId
        self.rule = rule
        self.receivedAt = receivedAt
        self.withheld = withheld
    }
}

/// An agency adapter plugin: turns a referral into the request an agency's system accepts, and
/// reads that system's reply. Adapters do no I/O of their own.
///
/// ```swift
/// struct PlainAdapter: AgencyAdapter {
///     static let name = "plain"
///     static let summary = "The canonical referral as JSON, unsigned envelope."
///     static let optionSpecs: [OptionSpec] = []
///     let mappedFields = Set(ReferralField.allCases)
///     init(setup: AdapterSetup) throws(AdapterOptionErrors) { try OptionReader(setup, specs: Self.optionSpecs).finish() }
///     func render(_ referral: Referral, context: DeliveryContext) throws -> OutboundRequest {
///         OutboundRequest(body: Array(referral.canonicalJSON()), contentType: "application/json")
///     }
/// }
/// ```
public protocol AgencyAdapter: Sendable {
    /// The name agencies.yaml uses in `adapter:`.
    static var name: String { get }

    /// One line for `switchboard adapters`.
    static var summary: String { get }

    /// The options an agency's `options:` mapping may hold; any other is a configuration error.
    static var optionSpecs: [OptionSpec] { get }

    /// Sets the adapter up for one agency, reporting every problem with its options at once. Runs
    /// when configuration loads, so a mistake stops the gateway there, not at 3 a.m.
    init(setup: AdapterSetup) throws(AdapterOptionErrors)

    /// The referral fields this adapter's requests carry; the audit log records which were sent.
    var mappedFields: Set<ReferralField> { get }

    /// Renders the request for one delivery. The same inputs must give the same request, so a
    /// retry sends what the first attempt sent.
    func render(_ referral: Referral, context: DeliveryContext) throws -> OutboundRequest

    /// Reads the agency's reply. The default follows HTTP: 2xx delivered; 408, 429 and 5xx retryable;
    /// any other status permanent.
    func interpret(_ reply: AgencyReply, context: DeliveryContext) -> DeliveryOutcome

    /// True for an adapter whose agency has no system to push to: a delivery is placed in the
    /// agency's web inbox instead of sent, and no request is made. False by default.
    static var deliversToInbox: Bool { get }

    /// Renders an update to a referral the agency already has (its referrer amended it): the
    /// referral as it now stands, in the agency's own form, naming the delivery it updates
    /// (`notice.about`). By default the same request `render` makes.
    func renderUpdate(_ referral: Referral, notice: ReferralNotice, context: DeliveryContext) throws -> OutboundRequest

    /// Renders a notice about a referral the agency already has (`referral.cancelled`,
    /// `referral.withdrawn`). `referral` is the referral as the agency may see it, for adapters whose
    /// receivers need the resource itself; by default it is not used and the JSON notice is sent.
    func renderNotice(_ notice: ReferralNotice, referral: Referral, context: DeliveryContext) throws -> OutboundRequest

    /// True when this adapter's notices carry the referral's fields (the audit trail then records
    /// them as sent). False by default.
    static var noticesCarryReferral: Bool { get }
}

extension AgencyAdapter {
    public static var deliversToInbox: Bool { false }

    public static var noticesCarryReferral: Bool { false }

    public func renderUpdate(_ referral: Referral, notice: ReferralNotice, context: DeliveryContext) throws -> OutboundRequest {
        try render(referral, context: context)
    }

    public func renderNotice(_ notice: ReferralNotice, referral: Referral, context: DeliveryContext) throws -> OutboundRequest {
        try renderNotice(notice, context: context)
    }

    public func interpret(_ reply: AgencyReply, context: DeliveryContext) -> DeliveryOutcome {
        HTTPReplyClassifier.classify(reply)
    }
}

/// The HTTP meaning of a reply's status, for adapters whose agencies use plain HTTP semantics.
public enum HTTPReplyClassifier {
    public static func classify(_ reply: AgencyReply, agencyReference: String? = nil) -> DeliveryOutcome {
        switch reply.status {
        case 200..<300:
            return .delivered(agencyReference: agencyReference)
        case 408, 425, 429, 500..<600:
            return .retryable(reason: "HTTP \(reply.status)", retryAfter: retryAfter(reply))
        default:
            return .permanent(reason: "HTTP \(reply.status): the agency refused the request")
        }
    }
}

extension HTTPReplyClassifier {
    /// The delay a reply's `Retry-After` asks for, in seconds: a number of seconds, or an HTTP date
    /// (RFC 9110 §10.2.3) measured from the reply's own `Date` header when it has one, else from now.
    public static func retryAfter(_ reply: AgencyReply, now: Date = Date()) -> Double? {
        guard let value = reply.header("Retry-After")?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if let seconds = Double(value) { return seconds >= 0 ? seconds : nil }
        guard let date = httpDate(value) else { return nil }
        let reference = reply.header("Date").flatMap(httpDate) ?? now
        return max(0, date.timeIntervalSince(reference))
    }

    /// An HTTP date in the preferred IMF-fixdate form (`Sun, 06 Nov 1994 08:49:37 GMT`) or the two
    /// obsolete forms HTTP recipients must still read.
    static func httpDate(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        for format in ["EEE, dd MMM yyyy HH:mm:ss zzz", "EEEE, dd-MMM-yy HH:mm:ss zzz", "EEE MMM d HH:mm:ss yyyy"] {
            formatter.dateFormat = format
            if let date = formatter.date(from: text) { return date }
        }
        return nil
    }
}

/// The adapters a build has, by name.
public struct AdapterRegistry: Sendable {
    private var adapters: [String: any AgencyAdapter.Type] = [:]

    public init() {}

    public mutating func register(_ adapter: any AgencyAdapter.Type) {
        adapters[adapter.name] = adapter
    }

    public func adapter(named name: String) -> (any AgencyAdapter.Type)? { adapters[name] }

    /// Sets up the named adapter for one agency.
    public func make(_ name: String, setup: AdapterSetup) throws(AdapterOptionErrors) -> any AgencyAdapter {
        guard let type = adapters[name] else {
            throw AdapterOptionErrors(errors: [AdapterOptionError(line: setup.line, column: setup.column, message: "unknown adapter '\(name)'")])
        }
        return try type.init(setup: setup)
    }

    public var names: Set<String> { Set(adapters.keys) }

    /// Every adapter, by name.
    public var all: [any AgencyAdapter.Type] { adapters.keys.sorted().compactMap { adapters[$0] } }
}

extension AgencyAdapter {
    /// A notice about a referral the agency already has, as JSON:
    /// `{"type": "referral.cancelled", "referralId", "deliveryId" (the one it received), "reason"}`;
    /// an alert also names the urgency and when a person must act (`due`). No personal data. An
    /// adapter whose receivers expect another form overrides it.
    public func renderNotice(_ notice: ReferralNotice, context: DeliveryContext) throws -> OutboundRequest {
        var data: [String: String] = ["referralId": context.referralId, "deliveryId": notice.about]
        if let reason = notice.reason { data["reason"] = reason }
        if let agency = notice.agency { data["agency"] = agency.rawValue }
        if let urgency = notice.urgency { data["urgency"] = urgency.rawValue }
        if let due = notice.due { data["due"] = due }
        let body: [String: Any] = ["type": notice.type, "timestamp": Timestamp.string(context.receivedAt), "data": data]
        let bytes = try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys, .withoutEscapingSlashes])
        return OutboundRequest(body: Array(bytes), contentType: "application/json")
    }
}
