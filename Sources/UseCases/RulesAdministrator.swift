import Audit
import Crypto
import Foundation
import Logging
import ReferralModel
import Routing
import Settings
import Storage

/// Every change to the routing rules goes through here, one at a time: an apply or rollback
/// through the API, the file read at start-up, and a reload on SIGHUP or when the file changes.
/// A change is validated in full against the live agencies, written to the rules file (so the
/// file and the gateway never disagree), stored as a numbered version with its audit event in one
/// transaction, and only then swapped in. Anything that fails leaves the live rules and the file
/// as they were.
public actor RulesAdministrator {
    /// How a version went live, as the history and the audit trail name it.
    public enum Source: String, Sendable {
        case startUp = "start-up"
        case api
        case rollback
        case reload
    }

    /// Why a change was refused. Nothing changed.
    public enum Refusal: Error, Sendable {
        /// `If-Match` names a version that is no longer live.
        case stale(live: String)
        case invalid([ConfigIssue])
        case noSuchVersion(Int)
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
    private let store: any RulesVersionStore & AuditLog & PostcodeDirectoryStore
    private let clock: any WallClock
    private let agencies: AgencyDirectory
    private let vocabulary: NeedsVocabulary
    /// The rules file this gateway loads, reloads and writes.
    public nonisolated let path: String
    private let logger: Logger
    /// The last bad text the watcher reported, so one bad save is reported once, not every poll.
    private var reportedBadText: String?
    /// An actor lets a second call in while the first awaits the store. A change holds this from
    /// its precondition to its swap, so two changes can never interleave their file writes.
    private var changing = false
    private var waitingToChange: [CheckedContinuation<Void, Never>] = []

    /// - Parameters:
    ///   - agencies, vocabulary: what every rules text is validated against.
    ///   - path: the rules file this gateway loads, reloads and writes.
    public init(
        live: LiveRules, store: any RulesVersionStore & AuditLog & PostcodeDirectoryStore, agencies: AgencyDirectory, vocabulary: NeedsVocabulary,
        path: String,
        clock: any WallClock = SystemClock(), logger: Logger
    ) {
        self.live = live
        self.store = store
        self.agencies = agencies
        self.vocabulary = vocabulary
        self.path = path
        self.clock = clock
        self.logger = logger
    }

    /// The name problems in a submitted text are reported against: the file it would replace.
    private nonisolated var fileName: String { URL(fileURLWithPath: path).lastPathComponent }

    /// Validates a rules text against the live agencies and vocabulary, as an apply would.
    public nonisolated func validate(_ text: String) throws(ConfigError) -> RuleSet {
        try RuleSet.parse(text, file: fileName, agencies: agencies, vocabulary: vocabulary)
    }

    /// The local authorities the postcode directory places `postcode` in, when `rules` route by them.
    public nonisolated func localAuthorities(of postcode: String, for rules: RuleSet) async throws -> Set<String> {
        rules.namesLocalAuthorities ? try await store.localAuthorities(of: postcode) : []
    }

    /// Runs `change` once no other change is under way, in the order they were asked for.
    private func exclusively<Value>(_ change: () async throws -> Value) async throws -> Value {
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

    /// Records the rules the gateway started with as the newest version, unless they already are.
    public func recordStartUp() async throws {
        try await exclusively { try await recordStartUpExclusively() }
    }

    private func recordStartUpExclusively() async throws {
        let rules = live.current.rules
        if let issues = try await placesProblem(rules, file: path) { throw Refusal.invalid(issues) }
        let latest = try await store.latestRules()
        if let latest, latest.version == rules.version {
            live.replace(.init(rules: rules, record: latest))
            return
        }
        let previous = latest.map { Previous(text: $0.text ?? "", version: $0.version, number: $0.number) } ?? .none
        _ = try await install(
            rules, over: previous, source: .startUp, actor: "gateway", note: "loaded from \(fileName) at start-up", writeFile: false)
    }

    /// Applies a new rules text if `ifMatch` names the live version (or is `*`).
    ///
    /// The text is validated before the precondition is evaluated (RFC 9110, 13.2.1): a change that
    /// could never apply is reported as invalid whichever version it was made against.
    public func apply(_ text: String, ifMatch: [String], actor: String) async throws -> Outcome {
        let rules = try validateForChange(text)
        if let issues = try await placesProblem(rules, file: fileName) { throw Refusal.invalid(issues) }
        return try await exclusively {
            try checkPrecondition(ifMatch)
            return try await installIfChanged(rules, source: .api, actor: actor, note: "through the API")
        }
    }

    /// Makes stored version `number` live again, as a new version, if `ifMatch` names the live one.
    public func rollback(to number: Int, ifMatch: [String], actor: String) async throws -> Outcome {
        guard let target = try await store.rules(number: number), let text = target.text else { throw Refusal.noSuchVersion(number) }
        // A stored version can fail today when the agencies changed since it was live.
        let rules = try validateForChange(text)
        if let issues = try await placesProblem(rules, file: fileName) { throw Refusal.invalid(issues) }
        return try await exclusively {
            try checkPrecondition(ifMatch)
            return try await installIfChanged(rules, source: .rollback, actor: actor, note: "rollback to version \(number)")
        }
    }

    /// Reads the rules file again. A valid change goes live; a bad file is logged and audited and
    /// the live rules stay. `trigger` says why (`SIGHUP`, `file changed`).
    /// - Returns: the outcome when the file held a new valid version, else nil.
    @discardableResult
    public func reload(trigger: String) async -> Outcome? {
        (try? await exclusively { await reloadExclusively(trigger: trigger) }) ?? nil
    }

    private func reloadExclusively(trigger: String) async -> Outcome? {
        let current = live.current.rules
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            await reject(
                [ConfigIssue(file: path, line: 1, column: 1, message: "cannot read the rules file", hint: "check the path and its permissions")],
                text: nil, trigger: trigger)
            return nil
        }
        if text == current.text {
            reportedBadText = nil
            return nil
        }
        // The watcher sees a bad save on every poll until it is fixed: report it once.
        if text == reportedBadText, trigger != "SIGHUP" { return nil }
        let rules: RuleSet
        do {
            rules = try RuleSet.parse(text, file: path, agencies: agencies, vocabulary: vocabulary)
        } catch {
            await reject(error.issues, text: text, trigger: trigger)
            return nil
        }
        if let issues = try? await placesProblem(rules, file: path) {
            await reject(issues, text: text, trigger: trigger)
            return nil
        }
        reportedBadText = nil
        do {
            return try await installIfChanged(
                rules, source: .reload, actor: "rules-file", note: "reloaded from \(fileName) (\(trigger))", writeFile: false)
        } catch {
            logger.error(
                "Rules reload could not be stored; the live rules stay", metadata: ["trigger": "\(trigger)", "error.type": "\(type(of: error))"])
            return nil
        }
    }

    /// Rules that name local authorities route by the postcode directory: without one imported,
    /// every referral would be outside their places, so they cannot go live.
    private func placesProblem(_ rules: RuleSet, file: String) async throws -> [ConfigIssue]? {
        guard rules.namesLocalAuthorities, try await store.postcodeDirectory() == nil else { return nil }
        return [
            ConfigIssue(
                file: file, line: 1, column: 1,
                message:
                    "the rules or agencies name local authorities (\(rules.localAuthorities.sorted().joined(separator: ", "))), but no postcode directory has been imported",
                hint: "import the ONS Postcode Directory first: switchboard directory import ONSPD.csv")
        ]
    }

    private func validateForChange(_ text: String) throws(Refusal) -> RuleSet {
        do {
            return try validate(text)
        } catch {
            throw .invalid(error.issues)
        }
    }

    private func checkPrecondition(_ ifMatch: [String]) throws {
        let version = live.current.rules.version
        guard ifMatch.contains("*") || ifMatch.contains(version) else { throw Refusal.stale(live: version) }
    }

    private struct Previous {
        var text: String
        var version: String
        var number: Int?
        static let none = Previous(text: "", version: "none", number: nil)
    }

    private func installIfChanged(_ rules: RuleSet, source: Source, actor: String, note: String, writeFile: Bool = true) async throws -> Outcome {
        let snapshot = live.current
        let previous = Previous(text: snapshot.rules.text, version: snapshot.rules.version, number: snapshot.record?.number)
        if rules.text == snapshot.rules.text, let record = snapshot.record {
            return Outcome(record: record, previousVersion: previous.version, change: RulesChange(from: rules.text, to: rules.text), applied: false)
        }
        return try await install(rules, over: previous, source: source, actor: actor, note: note, writeFile: writeFile)
    }

    private func install(_ rules: RuleSet, over previous: Previous, source: Source, actor: String, note: String, writeFile: Bool) async throws
        -> Outcome
    {
        let change = RulesChange(
            from: previous.text, to: rules.text, oldName: "version \(previous.number.map(String.init) ?? "none")", newName: "new")
        let number = (previous.number ?? 0) + 1
        let now = clock.now()
        let at = Timestamp.string(now)
        let summary = previous.number == nil ? "first version this store has seen" : change.summary
        let record = RulesVersionRecord(
            number: number, version: rules.version, appliedAt: at, appliedBy: actor, source: source.rawValue, summary: summary, text: rules.text)
        // The full digest ties the stored text to the audit chain; the summary names rules by id only.
        let digest = Hex.encode(SHA256.hash(data: Data(rules.text.utf8)))
        let audit = AuditNarrative.rulesApplied(
            at: now, actor: actor, number: number, version: rules.version, replacing: previous.version, note: note,
            ruleCount: rules.rules.count, fallback: rules.fallback, summary: summary, textDigest: digest)
        if writeFile { try write(rules.text) }
        let stored: Bool
        do {
            stored = try await store.recordRules(record, expectedLatest: previous.number, audit: [audit])
        } catch {
            if writeFile { try? write(previous.text) }
            throw error
        }
        guard stored else {
            if writeFile { try? write(previous.text) }
            throw Refusal.stale(live: previous.version)
        }
        live.replace(.init(rules: rules, record: record))
        logger.notice(
            "Rules applied",
            metadata: [
                "rules.version": "\(rules.version)", "rules.number": "\(number)", "rules.previous": "\(previous.version)",
                "actor": "\(actor)", "source": "\(source.rawValue)", "rules.count": "\(rules.rules.count)",
            ])
        return Outcome(record: record, previousVersion: previous.version, change: change, applied: true)
    }

    /// Replaces the rules file in one step (a new file renamed over the old), so a reader never
    /// sees half of it.
    private func write(_ text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    private func reject(_ issues: [ConfigIssue], text: String?, trigger: String) async {
        reportedBadText = text
        let version = live.current.rules.version
        logger.error(
            "Rules file rejected; the live rules stay in force",
            metadata: ["trigger": "\(trigger)", "problems": "\(issues.count)", "rules.version": "\(version)"])
        for issue in issues { logger.error("\(issue.description)") }
        let first = issues.first.map { "\($0.file):\($0.line):\($0.column): \($0.message)" }
        do {
            try await store.appendAudit([
                AuditNarrative.rulesRejected(
                    at: clock.now(), file: fileName, trigger: trigger, problems: issues.count, firstProblem: first, liveVersion: version)
            ])
        } catch {
            logger.error("Could not audit a rejected rules file", metadata: ["error.type": "\(type(of: error))"])
        }
    }
}
