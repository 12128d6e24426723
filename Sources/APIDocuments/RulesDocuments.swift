import ReferralModel

// The rules API's documents, shared by the gateway that writes them and the clients (the command
// line, tests) that read them.

/// `GET /v1/rules`: the live rules.
public struct LiveRulesDocument: Codable, Sendable {
    public var version: String
    public var number: Int?
    public var appliedAt: String?
    public var appliedBy: String?
    public var source: String?
    /// Rule ids in order.
    public var rules: [String]
    public var fallback: String
    public var text: String

    public init(
        version: String, number: Int?, appliedAt: String?, appliedBy: String?, source: String?, rules: [String], fallback: String, text: String
    ) {
        self.version = version
        self.number = number
        self.appliedAt = appliedAt
        self.appliedBy = appliedBy
        self.source = source
        self.rules = rules
        self.fallback = fallback
        self.text = text
    }
}

/// `GET /v1/agencies`: the live agencies.
public struct LiveAgenciesDocument: Codable, Sendable {
    public var version: String
    public var number: Int?
    public var appliedAt: String?
    public var appliedBy: String?
    public var source: String?
    /// Agency ids in order.
    public var agencies: [String]
    public var text: String
    /// True when a change needs a second administrator's approval (propose, then approve).
    public var approvalRequired: Bool

    public init(
        version: String, number: Int?, appliedAt: String?, appliedBy: String?, source: String?, agencies: [String], text: String,
        approvalRequired: Bool
    ) {
        self.version = version
        self.number = number
        self.appliedAt = appliedAt
        self.appliedBy = appliedBy
        self.source = source
        self.agencies = agencies
        self.text = text
        self.approvalRequired = approvalRequired
    }
}

/// A proposed change (`POST /v1/rules/proposals`, `GET /v1/rules/proposals/{id}`, and the same for
/// agencies): the proposal, and its diff against what is live now.
public struct ProposalDocument: Codable, Sendable {
    public var proposal: ChangeProposal
    /// The live text against the proposed one, unified format; empty in listings.
    public var diff: String

    public init(proposal: ChangeProposal, diff: String) {
        self.proposal = proposal
        self.diff = diff
    }
}

/// `GET /v1/rules/proposals`: proposals, newest first, without their texts.
public struct ProposalList: Codable, Sendable {
    public var proposals: [ChangeProposal]

    public init(proposals: [ChangeProposal]) { self.proposals = proposals }
}

/// What `PUT /v1/rules` or `POST /v1/rules/rollback` came to.
public struct RulesChangeResult: Codable, Sendable {
    public var applied: Bool
    public var number: Int
    public var version: String
    public var previousVersion: String
    public var summary: String
    public var diff: String

    public init(applied: Bool, number: Int, version: String, previousVersion: String, summary: String, diff: String) {
        self.applied = applied
        self.number = number
        self.version = version
        self.previousVersion = previousVersion
        self.summary = summary
        self.diff = diff
    }
}

/// `GET /v1/rules/versions/{number}`: a stored version, its text, and what it changed. On the
/// wire it is the stored record's members with `diff` beside them.
public struct RulesVersionDocument: Codable, Sendable {
    public var record: RulesVersionRecord
    /// The version before it against this one, unified format.
    public var diff: String

    private enum Keys: String, CodingKey { case diff }

    public init(record: RulesVersionRecord, diff: String) {
        self.record = record
        self.diff = diff
    }

    public init(from decoder: any Decoder) throws {
        record = try RulesVersionRecord(from: decoder)
        diff = try decoder.container(keyedBy: Keys.self).decode(String.self, forKey: .diff)
    }

    public func encode(to encoder: any Encoder) throws {
        try record.encode(to: encoder)
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(diff, forKey: .diff)
    }
}

/// `GET /v1/rules/versions`.
public struct RulesVersionList: Codable, Sendable {
    public var versions: [RulesVersionRecord]

    public init(versions: [RulesVersionRecord]) {
        self.versions = versions
    }
}

/// `POST /v1/rules/test`: the decision and each rule's result.
public struct RulesTestResult: Codable, Sendable {
    public struct RuleResult: Codable, Sendable {
        public var id: String
        /// `matched`, `not-matched` or `not-considered`.
        public var result: String
        public var failure: String?
        public var agencies: [String]?

        public init(id: String, result: String, failure: String?, agencies: [String]?) {
            self.id = id
            self.result = result
            self.failure = failure
            self.agencies = agencies
        }
    }

    public struct Target: Codable, Sendable {
        public var agency: String
        public var rule: String
        public var alternatives: [String]

        public init(agency: String, rule: String, alternatives: [String]) {
            self.agency = agency
            self.rule = rule
            self.alternatives = alternatives
        }
    }

    public var rulesVersion: String
    public var receivedAt: String
    public var rules: [RuleResult]
    public var routes: [Target]
    public var usedFallback: Bool
    /// True when the person lives outside the service area, so the rules were not applied.
    public var outOfArea: Bool?

    public init(rulesVersion: String, receivedAt: String, rules: [RuleResult], routes: [Target], usedFallback: Bool, outOfArea: Bool? = nil) {
        self.outOfArea = outOfArea
        self.rulesVersion = rulesVersion
        self.receivedAt = receivedAt
        self.rules = rules
        self.routes = routes
        self.usedFallback = usedFallback
    }
}
