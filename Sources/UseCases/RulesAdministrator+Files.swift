import Audit
import Foundation
import ReferralModel
import Routing
import Settings
import Storage

/// The files on disk: read at start-up, and the rules file reloaded on SIGHUP or when it changes.
extension RulesAdministrator {
    /// Records the agencies and rules the gateway started with as the newest versions, unless they
    /// already are. Where approval is required and a version is stored, the stored version is what
    /// runs: an edit made to the file outside the gateway was never approved, so it is reported,
    /// audited and not loaded.
    public func recordStartUp() async throws {
        try await exclusively {
            try await startUp(.agencies)
            try await startUp(.rules)
        }
    }

    private func startUp(_ document: GovernedDocument) async throws {
        let snapshot = live.current
        let latest = try await store.latestVersion(of: document)
        if followsStore, let latest {
            try await adopt(latest, of: document)
            if latest.text != snapshot.text(of: document) {
                logger.notice(
                    "\(fileName(of: document)) differs from the stored version, which is live: where gateways share a store the stored versions govern",
                    metadata: ["document": "\(document.rawValue)", "number": "\(latest.number)", "version": "\(latest.version)"])
            }
            return
        }
        var rules = snapshot.rules
        if approvalRequired.contains(document), let latest, latest.version != snapshot.version(of: document), let text = latest.text {
            rules = try prepare(text, for: document)
            await reject(
                [
                    ConfigIssue(
                        file: file(of: document), line: 1, column: 1,
                        message: "the file differs from approved version \(latest.number) (\(latest.version)), which stays live",
                        hint:
                            "changes need a second administrator's approval: propose the file's text (switchboard \(document.rawValue) propose FILE)")
                ], text: nil, trigger: "start-up", document: document)
            if document == .agencies, let installer { try await installer.install(rules.directory) }
        }
        if let issues = try await placesProblem(rules, file: file(of: document)) { throw Refusal.invalid(issues) }
        let version = document == .rules ? rules.version : rules.directory.version
        if let latest, latest.version == version {
            live.replace(
                .init(
                    rules: rules, record: document == .rules ? latest : snapshot.record,
                    agenciesRecord: document == .agencies ? latest : snapshot.agenciesRecord))
            return
        }
        let previous = latest.map { Previous(text: $0.text ?? "", version: $0.version, number: $0.number) } ?? .none
        do {
            _ = try await install(
                rules, document: document, over: previous, source: .startUp, actor: "gateway",
                note: "loaded from \(fileName(of: document)) at start-up", writeFile: false)
        } catch Refusal.stale where followsStore {
            // Gateways starting together on an empty shared store: another seeded it first, and
            // what it stored governs.
            guard let seeded = try await store.latestVersion(of: document) else { throw Refusal.stale(live: "none") }
            try await adopt(seeded, of: document)
        }
    }

    /// Reads the rules file again. A valid change goes live; a bad file is logged and audited and
    /// the live rules stay. `trigger` says why (`SIGHUP`, `file changed`). Where rules changes need
    /// approval, a changed file is reported and not loaded.
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
        if approvalRequired.contains(.rules) {
            await reject(
                [
                    ConfigIssue(
                        file: path, line: 1, column: 1,
                        message: "rules changes need a second administrator's approval; the file's change was not loaded",
                        hint: "propose it: switchboard rules propose \(fileName(of: .rules))")
                ], text: text, trigger: trigger)
            return nil
        }
        let rules: RuleSet
        do {
            rules = try RuleSet.parse(text, file: path, agencies: current.directory, vocabulary: vocabulary)
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
                rules, document: .rules, source: .reload, actor: "rules-file", note: "reloaded from \(fileName(of: .rules)) (\(trigger))",
                writeFile: false)
        } catch {
            logger.error(
                "Rules reload could not be stored; the live rules stay", metadata: ["trigger": "\(trigger)", "error.type": "\(type(of: error))"])
            return nil
        }
    }

    func reject(_ issues: [ConfigIssue], text: String?, trigger: String, document: GovernedDocument = .rules) async {
        if text != nil { reportedBadText = text }
        let version = live.current.version(of: document)
        logger.error(
            "\(document == .rules ? "Rules" : "Agencies") file rejected; the live version stays in force",
            metadata: ["trigger": "\(trigger)", "problems": "\(issues.count)", "version": "\(version)"])
        for issue in issues { logger.error("\(issue.description)") }
        let first = issues.first.map { "\($0.file):\($0.line):\($0.column): \($0.message)" }
        do {
            try await store.appendAudit([
                AuditNarrative.rulesRejected(
                    at: clock.now(), file: fileName(of: document), trigger: trigger, problems: issues.count, firstProblem: first,
                    liveVersion: version)
            ])
        } catch {
            logger.error("Could not audit a rejected file", metadata: ["error.type": "\(type(of: error))"])
        }
    }
}
