import Hummingbird
import ReferralModel
import Settings
import UseCases

/// Who is calling: the API key's id and role, once the bearer token is checked.
public struct Principal: Sendable, Equatable {
    public var keyId: String
    public var role: Role
    /// For a referrer key: the organisations it may submit for; nil when it may name any.
    public var organisations: Set<String>?
    /// For an agency key: the agency it answers for; nil for a key configured without one.
    public var agency: AgencyID? = nil
    /// The person or system that holds the key; nil for a configured key written without one.
    public var owner: String? = nil
    /// For a key whose system signs its requests: the secret the signatures are checked with.
    public var signatureSecret: String? = nil

    public init(
        keyId: String, role: Role, organisations: Set<String>?, agency: AgencyID? = nil, owner: String? = nil, signatureSecret: String? = nil
    ) {
        self.keyId = keyId
        self.role = role
        self.organisations = organisations
        self.agency = agency
        self.owner = owner
        self.signatureSecret = signatureSecret
    }

    /// The holder of a live key, as every door sees them.
    public init(holder: KeyHolder) {
        self.init(
            keyId: holder.id, role: holder.role, organisations: holder.organisations, agency: holder.agency.map(AgencyID.init),
            owner: holder.owner, signatureSecret: holder.signatureSecret)
    }

    /// Who the audit trail says did something: the key's owner, or its id for a key without one.
    /// Approval compares these, so one person's two keys cannot approve that person's own change.
    public var actor: String { owner ?? keyId }
}

/// The request context every route sees.
public struct GatewayContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var principal: Principal?
    /// At the console: the signed-in person's session, whose CSRF token every form carries.
    public var console: ConsoleSession?

    /// The address the connection comes from, without its port: the key refusals are counted by.
    public let clientAddress: String
    /// This request's id: in every log line about it, its `X-Request-Id` response header, and the
    /// logs of each delivery of a referral it brings. Made here, never taken from the client, so
    /// nothing a client sends reaches a log this way.
    public let requestId: String

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        clientAddress = source.channel.remoteAddress?.ipAddress ?? "an unknown address"
        requestId = Identifier.make()
        logger[metadataKey: "request"] = "\(requestId)"
    }

    /// Bodies are read with an explicit limit by `BodyLimitMiddleware`; this matches it.
    public var maxUploadSize: Int { BodyLimitMiddleware.limit }
}
