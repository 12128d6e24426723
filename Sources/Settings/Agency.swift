import ReferralModel

/// An organisation that receives referrals, as `config/agencies.yaml` describes it.
public struct Agency: Sendable, Equatable {
    /// How often and how patiently deliveries to this agency are retried, as agencies.yaml says:
    /// the top-level settings for routine referrals, and a shorter schedule for each of urgent and
    /// emergency, so an emergency that cannot be delivered escalates to a person within minutes.
    public struct Retry: Sendable, Equatable {
        /// One urgency's retries.
        public struct Schedule: Sendable, Equatable {
            /// Attempts in all, the first included, before a job is dead-lettered (and escalates).
            public var maxAttempts: Int
            /// Delay before the second attempt; each later delay doubles, with jitter.
            public var initialBackoff: Double
            /// No delay grows beyond this.
            public var maxBackoff: Double

            public init(maxAttempts: Int, initialBackoff: Double, maxBackoff: Double) {
                self.maxAttempts = maxAttempts
                self.initialBackoff = initialBackoff
                self.maxBackoff = maxBackoff
            }

            /// Five attempts with delays of at most 10, 20, 40 and 60 s: given up within about two minutes.
            public static let emergency = Schedule(maxAttempts: 5, initialBackoff: 10, maxBackoff: 60)
            /// Eight attempts with delays up to five minutes: given up within about ten.
            public static let urgent = Schedule(maxAttempts: 8, initialBackoff: 5, maxBackoff: 300)
        }

        /// Attempts in all for a routine referral, the first included, before a job is dead-lettered.
        public var maxAttempts: Int
        /// Delay before the second attempt; each later delay doubles, with jitter.
        public var initialBackoff: Double
        /// No delay grows beyond this.
        public var maxBackoff: Double
        public var urgent = Schedule.urgent
        public var emergency = Schedule.emergency

        public init(maxAttempts: Int = 12, initialBackoff: Double = 2, maxBackoff: Double = 900) {
            self.maxAttempts = maxAttempts
            self.initialBackoff = initialBackoff
            self.maxBackoff = maxBackoff
        }

        /// The schedule a referral of `urgency` is retried on.
        public func schedule(for urgency: Urgency) -> Schedule {
            switch urgency {
            case .emergency: emergency
            case .urgent: urgent
            case .routine: Schedule(maxAttempts: maxAttempts, initialBackoff: initialBackoff, maxBackoff: maxBackoff)
            }
        }
    }

    /// When the agency's circuit opens and rests, and when failing for days disables it.
    public struct CircuitBreaker: Sendable, Equatable {
        /// Failed attempts in a row (no answer, a timeout, 408 or 5xx) that open the circuit.
        public var failures: Int
        /// The first rest before a probe; each reopening doubles it up to `maximumCoolDown`.
        public var coolDown: Double
        public var maximumCoolDown: Double
        /// Failing every attempt for this many days disables the agency until an operator resumes it.
        public var disableAfterDays: Double
        /// The circuit also opens when this percentage of the last `window` attempts failed.
        public var failureRatePercent: Double
        public var window: Int

        public init(
            failures: Int = 5, coolDown: Double = 30, maximumCoolDown: Double = 600, disableAfterDays: Double = 5, failureRatePercent: Double = 50,
            window: Int = 20
        ) {
            self.failureRatePercent = failureRatePercent
            self.window = window
            self.failures = failures
            self.coolDown = coolDown
            self.maximumCoolDown = maximumCoolDown
            self.disableAfterDays = disableAfterDays
        }
    }

    /// The adapter of an agency without a system of its own: referrals wait in its web inbox.
    public static let inboxAdapter = "portal"

    public var id: AgencyID
    public var name: String
    /// The adapter plugin that renders its requests, for example `json-webhook`.
    public var adapter: String
    /// Where deliveries are pushed: an `http` or `https` URL.
    public var endpoint: String
    /// The environment variable holding the Standard Webhooks signing secret (`whsec_…`).
    public var secretEnv: String?
    /// While a signing secret is rotated: the variable holding the secret being retired. Each
    /// delivery is then signed with both, so the agency can switch at its own moment.
    public var previousSecretEnv: String?
    public var retry: Retry
    public var connectTimeout: Double
    public var requestTimeout: Double
    /// The adapter's own options, checked by the adapter when configuration loads.
    public var options: [String: ConfigValue]
    /// Where `options` (or, without it, the agency entry) starts in agencies.yaml.
    public var optionsLine: Int
    public var optionsColumn: Int
    /// Fields this agency's data-sharing agreement says it must not be sent: those outside its
    /// `receives` allow-list, and those it lists under `withhold`.
    public var withhold: Set<ReferralField>
    /// True when the agency receives every need a referral names; otherwise only the needs that
    /// routed the referral to it.
    public var receivesAllNeeds: Bool
    /// Attempts in flight at once to this agency: its own lane, under the gateway's
    /// `delivery.concurrency`, so a slow or silent agency holds only its own slots.
    public var concurrency: Int
    public var circuitBreaker: CircuitBreaker
    /// A header proving the gateway to the agency (bearer, basic or its own), secret from the environment.
    public var authorization: Authorization?
    /// CAs to trust and a client certificate for mutual TLS, for an https endpoint.
    public var tls: TLS?
    /// Need codes this agency offers a service for, for the service directory.
    public var services: [String]
    /// Postcode areas, districts, sectors or units it covers (`OX`, `OX1`, `OX1 2`).
    public var coverage: [String]
    /// A safeguarding recipient (a safeguarding hub, an emergency duty team) may receive a referral
    /// shared without the person's consent; no other agency may.
    public var safeguardingRecipient: Bool
    /// How long it has to take a referral on, and what happens when it does not.
    public var acknowledgement = Acknowledgement()
    /// When its people are there to act; nil: always.
    public var hours: OpeningHours?
    /// Who acts for it while it is closed, for emergency and urgent referrals.
    public var outOfHours: AgencyID?
    /// May receive a referral shared without consent to protect someone's life (lawful basis
    /// `vital-interests`, or `safeguarding` for a safeguarding need), as well as the safeguarding
    /// recipients: a crisis team, say.
    public var vitalInterests = false
    /// `allow_plain_http: true`: the agency's endpoint may be `http://` on another machine, on a
    /// network the deployment trusts; the gateway warns at every start.
    public var allowPlainHTTP = false
    /// `allow_link_local: true`: the endpoint may be a link-local address.
    public var allowLinkLocal = false
    /// The ages it serves; nil: any.
    public var ages: AgeRange?
    /// `capacity: {per_day: N}`: the referrals a day it has said it can take, which the console's
    /// overview sets today's against. Routing does not use it.
    public var capacityPerDay: Int?

    public init(
        id: AgencyID, name: String, adapter: String, endpoint: String, secretEnv: String? = nil, retry: Retry = .init(),
        connectTimeout: Double = 5, requestTimeout: Double = 30, options: [String: ConfigValue] = [:], optionsLine: Int = 1,
        optionsColumn: Int = 1, withhold: Set<ReferralField> = [], services: [String] = [], coverage: [String] = [],
        safeguardingRecipient: Bool = false, receivesAllNeeds: Bool = false, concurrency: Int = 8, circuitBreaker: CircuitBreaker = .init(),
        authorization: Authorization? = nil, tls: TLS? = nil
    ) {
        self.authorization = authorization
        self.tls = tls
        self.concurrency = concurrency
        self.circuitBreaker = circuitBreaker
        self.receivesAllNeeds = receivesAllNeeds
        self.safeguardingRecipient = safeguardingRecipient
        self.id = id
        self.name = name
        self.adapter = adapter
        self.endpoint = endpoint
        self.secretEnv = secretEnv
        self.retry = retry
        self.connectTimeout = connectTimeout
        self.requestTimeout = requestTimeout
        self.options = options
        self.optionsLine = optionsLine
        self.optionsColumn = optionsColumn
        self.withhold = withhold
        self.services = services
        self.coverage = coverage
    }
}
