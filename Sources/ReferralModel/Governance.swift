import Foundation

/// The configuration documents administrators change through the gateway, each versioned, audited
/// and (when the deployment requires it) approved by a second administrator.
public enum GovernedDocument: String, Sendable, Codable, CaseIterable {
    case rules
    case agencies

    /// The file it is, as people call it.
    public var fileName: String { self == .rules ? "rules.yaml" : "agencies.yaml" }
}

/// One version of a governed document (the routing rules, the agencies) as it went live:
/// numbered in order, with its text, who applied it, how, and what it changed.
public struct RulesVersionRecord: Sendable, Equatable, Codable {
    /// 1 for the first rules this store saw, then one more for each change.
    public var number: Int
    /// The text's digest, `sha256:…`, which `If-Match` names.
    public var version: String
    public var appliedAt: String
    /// The API key id, or `gateway` for a file loaded at start or on reload.
    public var appliedBy: String
    /// How it came: `start-up`, `api`, `rollback`, `reload` (SIGHUP or the file changing).
    public var source: String
    /// The rule ids added, removed and changed, from the version before.
    public var summary: String
    /// The rules text; nil in listings.
    public var text: String?

    public init(
        number: Int, version: String, appliedAt: String, appliedBy: String, source: String, summary: String, text: String?
    ) {
        self.number = number
        self.version = version
        self.appliedAt = appliedAt
        self.appliedBy = appliedBy
        self.source = source
        self.summary = summary
        self.text = text
    }
}

/// A change to a governed document that waits for a second administrator's approval.
public struct ChangeProposal: Sendable, Equatable, Codable {
    public enum State: String, Sendable, Codable {
        case pending, approved, rejected
        /// The document changed before it was approved; it would overwrite that change.
        case superseded
    }

    /// What became of a pending proposal, by whom and when.
    public struct Decision: Sendable, Equatable, Codable {
        public var state: State
        public var by: String
        public var at: String
        public var reason: String?

        public init(state: State, by: String, at: String, reason: String? = nil) {
            self.state = state
            self.by = by
            self.at = at
            self.reason = reason
        }
    }

    public var id: String
    public var document: GovernedDocument
    /// The live version it was made against: it applies only over that one.
    public var baseVersion: String
    /// The version it would make live.
    public var version: String
    public var proposedBy: String
    public var proposedAt: String
    /// What it changes, by rule or agency id.
    public var summary: String
    public var state: State
    public var decision: Decision?
    /// The proposed text; nil in listings.
    public var text: String?

    public init(
        id: String, document: GovernedDocument, baseVersion: String, version: String, proposedBy: String, proposedAt: String,
        summary: String, state: State = .pending, decision: Decision? = nil, text: String?
    ) {
        self.id = id
        self.document = document
        self.baseVersion = baseVersion
        self.version = version
        self.proposedBy = proposedBy
        self.proposedAt = proposedAt
        self.summary = summary
        self.state = state
        self.decision = decision
        self.text = text
    }
}
