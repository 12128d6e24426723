import Audit
import Crypto
import Foundation
import Logging
import ReferralModel
import Routing
import Settings
import Storage

/// Every change to the governed documents, the routing rules and the agencies, goes through here,
/// one at a time: an apply or rollback through the API, a proposal's approval, the files read at
/// start-up, and a reload of the rules file on SIGHUP or when it changes. A change is validated in
/// full (rules against the agencies, agencies against the adapters, their secrets and the rules
/// that name them), written to its file (so the file and the gateway never disagree), stored as a
/// numbered version with its audit event in one transaction, and only then swapped in. Anything
/// that fails leaves what is live, and the file, as they were.
///
/// Where the deployment requires approval for a document, a change to it is a proposal that a
/// second administrator approves (`RulesAdministrator+Proposals.swift`).
public actor RulesAdministrator {
    /// How a version went live, as the history and the audit trail name it.
    public enum Source: String, Sendable {
        case startUp = "start-up"
        case api
        case rollback
        case reload
        case approval
    }

    /// Why a change was refused. Nothing changed.
    public enum Refusal: Error, Sendable {
        /// `If-Match` names a version that is no longer live.
        case stale(live: String)
        case invalid([ConfigIssue])
        case noSuchVersion(Int)
        /// The deployment requires a second administrator's approval for changes to this document.
        case approvalRequired(GovernedDocument)
        case noSuchProposal(String)
        /// The proposal was already decided.
        case notPending(ChangeProposal.State)
        /// The administrator approving it is the one who proposed it.
        case sameAdministrator(String)
        /// This gateway was not given the means to change its agencies.
        case agenciesFixed
    }

    /// A change that was asked for, and what came of it.
    public struct Outcome: Sendable {
        /// The version live afterwards.
        public var record: RulesVersionRecord
        public var previousVersion: String
        public var change: RulesChange
        /// False when the text asked for was already live: nothing was stored.
        public var applied: Bool
    }

    public nonisolated let live: LiveRules
    let store: any RulesVersionStore & AuditLog & PostcodeDirectoryStore & ProposalStore & ReferralLoopStore
    let clock: any WallClock
    let vocabulary: NeedsVocabulary
    /// The rules file this gateway loads, reloads and writes.
    public nonisolated let path: String
    /// The agencies file it loads and writes.
    public nonisolated let agenciesPath: String
    let installer: (any AgencyInstaller)?
    /// The documents whose changes need a second administrator's approval.
    public nonisolated let approvalRequired: Set<GovernedDocument>
    /// Several gateways share the store: the stored versions govern, the files only seed an empty
    /// store and are never written, and each gateway follows what the others apply.
    public nonisolated let followsStore: Bool
    /// The newest stored version this gateway could not install, reported once.
    var reportedUninstallable: [GovernedDocument: Int] = [:]
    let logger: Logger
    /// The last bad text the watcher reported, so one bad save is reported once, not every poll.
    var reportedBadText: String?
    /// An actor lets a second call in while the first awaits the store. A change holds this from
    /// its precondition to its swap, so two changes can never interleave their file writes.
    private var changing = false
    private var waitingToChange: [CheckedContinuation<Void, Never>] = []

    /// - Parameters:
    ///   - vocabulary: what every rules text is validated against.
    ///   - path, agenciesPath: the files this gateway loads and writes.
    ///   - installer: validates and installs agencies; nil where agencies cannot change.
    ///   - approvalRequired: the documents whose changes are proposals a second administrator approves.
    public init(
        live: LiveRules, store: any RulesVersionStore & AuditLog & PostcodeDirectoryStore & ProposalStore & ReferralLoopStore,
        vocabulary: NeedsVocabulary,
        path: String, agenciesPath: String = "agencies.yaml", installer: (any AgencyInstaller)? = nil,
        approvalRequired: Set<GovernedDocument> = [], followsStore: Bool = false, clock: any WallClock = SystemClock(), logger: Logger
    ) {
        self.followsStore = followsStore
        self.live = live
        self.store = store
        self.vocabulary = vocabulary
        self.path = path
        self.agenciesPath = agenciesPath
        self.installer = installer
        self.approvalRequired = approvalRequired
        self.clock = clock
        self.logger = logger
    }

    /// The file a document is read from and written to.
    nonisolated func file(of document: GovernedDocument) -> String { document == .rules ? path : agenciesPath }

    /// The name problems in a submitted text are reported against: the file it would replace.
    nonisolated func fileName(of document: GovernedDocument) -> String { URL(fileURLWithPath: file(of: document)).lastPathComponent }

    /// Validates a rules text against the live agencies and vocabulary, as an apply would.
    public nonisolated func validate(_ text: String) throws(ConfigError) -> RuleSet {
        try RuleSet.parse(text, file: fileName(of: .rules), agencies: live.current.agencies, vocabulary: vocabulary)
    }

    /// What a change to `document` would make live: the new rules with the agencies they are
    /// validated against. A new agencies text must also keep the live rules valid.
    public nonisolated func prepare(_ text: String, for document: GovernedDocument) throws(Refusal) -> RuleSet {
        do {
            guard document == .agencies else { return try validate(text) }
            guard let installer else { throw Refusal.agenciesFixed }
            let agencies = try installer.validate(text, file: file(of: .agencies))
            return try RuleSet.parse(live.current.rules.text, file: fileName(of: .rules), agencies: agencies, vocabulary: vocabulary)
        } catch let error as ConfigError {
            throw .invalid(error.issues)
        } catch let refusal as Refusal {
            throw refusal
        } catch {
            throw .invalid([])
        }
    }

    /// The local authorities the postcode directory places `postcode` in, when `rules` route by them.
    public nonisolated func localAuthorities(of postcode: String, for rules: RuleSet) async throws -> Set<String> {
        rules.namesLocalAuthorities ? try await store.localAuthorities(of: postcode) : []
    }

    /// Runs `change` once no other change is under way, in the order they were asked for.
    func exclusively<Value>(_ change: () async throws -> Value) async throws -> Value {
        if changing {
            await withCheckedContinuation { waitingToChange.append($0) }
        } else {
            changing = true
        }
        defer {
            if waitingToChange.isEmpty { changing = false } else { waitingToChange.removeFirst().resume() }
        }
        return try await change()
    }

    /// Applies a new text of `document` if `ifMatch` names its live version (or is `*`).
    ///
    /// The text is validated before the precondition is evaluated (RFC 9110, 13.2.1): a change that
    /// could never apply is reported as invalid whichever version it was made against.
    public func apply(_ text: String, to document: GovernedDocument = .rules, ifMatch: [String], actor: String) async throws -> Outcome {
        guard !approvalRequired.contains(document) else { throw Refusal.approvalRequired(document) }
        let rules = try prepare(text, for: document)
        if let issues = try await placesProblem(rules, file: fileName(of: document)) { throw Refusal.invalid(issues) }
        return try await exclusively {
            try checkPrecondition(ifMatch, document: document)
            return try await installIfChanged(rules, document: document, source: .api, actor: actor, note: "through the API")
        }
    }

    /// What a rollback did: made the old version live, or, where changes need a second
    /// administrator, proposed it for their approval.
    public enum Rollback: Sendable {
        case live(Outcome)
        case proposed(Proposed)
    }

    /// Makes stored version `number` of `document` live again, as a new version, if `ifMatch` names
    /// the live one. Going back is a change like any other: where the document's changes need
    /// approval, the old text is proposed instead, and goes live when another administrator approves.
    public func rollback(to number: Int, of document: GovernedDocument = .rules, ifMatch: [String], actor: String) async throws -> Rollback {
        guard let target = try await store.version(number, of: document), let text = target.text else { throw Refusal.noSuchVersion(number) }
        if approvalRequired.contains(document) { return .proposed(try await propose(text, to: document, ifMatch: ifMatch, actor: actor)) }
        // A stored version can fail today when what it depends on changed since it was live.
        let rules = try prepare(text, for: document)
        if let issues = try await placesProblem(rules, file: fileName(of: document)) { throw Refusal.invalid(issues) }
        return try await exclusively {
            try checkPrecondition(ifMatch, document: document)
            return Rollback.live(
                try await installIfChanged(rules, document: document, source: .rollback, actor: actor, note: "rollback to version \(number)"))
        }
    }

    /// Rules that name local authorities route by the postcode directory: without one imported,
    /// every referral would be outside their places, so they cannot go live.
    func placesProblem(_ rules: RuleSet, file: String) async throws -> [ConfigIssue]? {
        guard rules.namesLocalAuthorities, try await store.postcodeDirectory() == nil else { return nil }
        return [
            ConfigIssue(
                file: file, line: 1, column: 1,
                message:
                    "the rules or agencies name local authorities (\(rules.localAuthorities.sorted().joined(separator: ", "))), but no postcode directory has been imported",
                hint: "import the ONS Postcode Directory first: switchboard directory import ONSPD.csv")
        ]
    }

    func checkPrecondition(_ ifMatch: [String], document: GovernedDocument) throws {
        let version = live.current.version(of: document)
        guard ifMatch.contains("*") || ifMatch.contains(version) else { throw Refusal.stale(live: version) }
    }

    /// What was live before a change: its text, version and stored number.
    struct Previous {
        var text: String
        var version: String
        var number: Int?
        static let none = Previous(text: "", version: "none", number: nil)
    }

    func installIfChanged(_ rules: RuleSet, document: GovernedDocument, source: Source, actor: String, note: String, writeFile: Bool = true)
        async throws -> Outcome
    {
        let snapshot = live.current
        let text = document == .rules ? rules.text : rules.directory.text
        let previous = Previous(
            text: snapshot.text(of: document), version: snapshot.version(of: document), number: snapshot.record(of: document)?.number)
        if text == previous.text, let record = snapshot.record(of: document) {
            return Outcome(record: record, previousVersion: previous.version, change: change(document, from: text, to: text), applied: false)
        }
        return try await install(rules, document: document, over: previous, source: source, actor: actor, note: note, writeFile: writeFile)
    }

    public nonisolated func change(_ document: GovernedDocument, from old: String, to new: String, oldName: String = "live", newName: String = "new")
        -> RulesChange
    {
        RulesChange(from: old, to: new, oldName: oldName, newName: newName, list: document.rawValue)
    }

    /// Stores and swaps in a new version of `document`: `rules` carries it (the new rules, or the
    /// live rules validated against the new agencies).
    func install(
        _ rules: RuleSet, document: GovernedDocument, over previous: Previous, source: Source, actor: String, note: String, writeFile: Bool
    ) async throws -> Outcome {
        let text = document == .rules ? rules.text : rules.directory.text
        let version = document == .rules ? rules.version : rules.directory.version
        let change = change(document, from: previous.text, to: text, oldName: "version \(previous.number.map(String.init) ?? "none")")
        let number = (previous.number ?? 0) + 1
        let now = clock.now()
        let summary = previous.number == nil ? "first version this store has seen" : change.summary
        let record = RulesVersionRecord(
            number: number, version: version, appliedAt: Timestamp.string(now), appliedBy: actor, source: source.rawValue, summary: summary,
            text: text)
        // The full digest ties the stored text to the audit chain; the summary names entries by id only.
        let digest = Hex.encode(SHA256.hash(data: Data(text.utf8)))
        let audit =
            document == .rules
            ? AuditNarrative.rulesApplied(
                at: now, actor: actor, number: number, version: version, replacing: previous.version, note: note,
                ruleCount: rules.rules.count, fallback: rules.fallback.rawValue, summary: summary, textDigest: digest)
            : AuditNarrative.agenciesApplied(
                at: now, actor: actor, number: number, version: version, replacing: previous.version, note: note,
                agencyCount: rules.directory.agencies.count, summary: summary, textDigest: digest)
        if writeFile { try write(text, to: document) }
        let stored: Bool
        do {
            stored = try await store.recordVersion(record, of: document, expectedLatest: previous.number, audit: [audit])
        } catch {
            if writeFile { try? write(previous.text, to: document) }
            throw error
        }
        guard stored else {
            if writeFile { try? write(previous.text, to: document) }
            throw Refusal.stale(live: previous.version)
        }
        let snapshot = live.current
        if document == .agencies, rules.directory.text != snapshot.agencies.text, let installer { try await installer.install(rules.directory) }
        live.replace(
            .init(
                rules: rules, record: document == .rules ? record : snapshot.record,
                agenciesRecord: document == .agencies ? record : snapshot.agenciesRecord))
        logger.notice(
            "\(document == .rules ? "Rules" : "Agencies") applied",
            metadata: [
                "document": "\(document.rawValue)", "version": "\(version)", "number": "\(number)", "previous": "\(previous.version)",
                "actor": "\(actor)", "source": "\(source.rawValue)",
            ])
        return Outcome(record: record, previousVersion: previous.version, change: change, applied: true)
    }

    /// Replaces a document's file in one step (a new file renamed over the old), so a reader never
    /// sees half of it.
    func write(_ text: String, to document: GovernedDocument) throws {
        guard !followsStore else { return }
        try Data(text.utf8).write(to: URL(fileURLWithPath: file(of: document)), options: .atomic)
    }
}
