import AdapterKit
import Foundation
import ReferralModel
import Transport

/// One agency as the dispatcher needs it: where to send, how to render and sign, what to leave
/// out, and how patiently to retry. The composition root builds these from agencies.yaml.
public struct DeliveryTarget: Sendable {
    public var agencyId: AgencyID
    /// An `http` or `https` URL; the adapter's path is appended.
    public var endpoint: String
    public var adapter: any AgencyAdapter
    public var signer: WebhookSigner?
    /// Fields this agency's data-sharing agreement says it must not be sent.
    public var withheld: Set<ReferralField>
    /// True when the agency is told every need a referral names, not only those that routed it here.
    public var receivesAllNeeds: Bool
    /// Retries for a routine referral.
    public var retry: RetryPolicy
    /// Retries for an urgent referral: fewer and sooner, so it escalates within minutes.
    public var urgentRetry = RetryPolicy.urgent
    /// Retries for an emergency: given up within about two minutes, then escalated to a person.
    public var emergencyRetry = RetryPolicy.emergency
    /// Seconds to establish the connection, TLS included.
    public var connectTimeout: Double
    /// Seconds for the whole exchange.
    public var totalTimeout: Double
    /// Attempts in flight at once to this agency: its own lane, so a slow or silent agency holds
    /// only its own slots.
    public var concurrency: Int
    public var circuit: CircuitPolicy
    /// How long a job is this process's once leased: always longer than the agency's connect and
    /// total timeouts together, so a slow attempt is never run twice at once.
    public var leaseDuration: TimeInterval
    /// A header proving the gateway to the agency, sent with every delivery.
    public var authorization: (name: String, value: String)?
    /// CAs to trust and a client certificate, for mutual TLS.
    public var tls: TLSOptions?
    /// Access tokens from the NHS API platform, sent as a bearer token, for an agency behind it.
    public var tokens: NHSAccessTokens?

    public init(
        agencyId: AgencyID, endpoint: String, adapter: any AgencyAdapter, signer: WebhookSigner?, withheld: Set<ReferralField> = [],
        retry: RetryPolicy = .init(), connectTimeout: Double = 5, totalTimeout: Double = 30, receivesAllNeeds: Bool = false,
        concurrency: Int = 8, circuit: CircuitPolicy = .init(), minimumLease: TimeInterval = 120,
        authorization: (name: String, value: String)? = nil, tls: TLSOptions? = nil
    ) {
        self.authorization = authorization
        self.tls = tls
        self.concurrency = concurrency
        self.circuit = circuit
        self.leaseDuration = max(minimumLease, connectTimeout + totalTimeout + 15)
        self.receivesAllNeeds = receivesAllNeeds
        self.agencyId = agencyId
        self.endpoint = endpoint
        self.adapter = adapter
        self.signer = signer
        self.withheld = withheld
        self.retry = retry
        self.connectTimeout = connectTimeout
        self.totalTimeout = totalTimeout
    }

    /// The retries a referral of `urgency` gets.
    public func retry(for urgency: Urgency) -> RetryPolicy {
        switch urgency {
        case .emergency: emergencyRetry
        case .urgent: urgentRetry
        case .routine: retry
        }
    }
}
