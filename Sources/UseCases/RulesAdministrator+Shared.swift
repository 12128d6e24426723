import Foundation
import Logging
import ReferralModel
import Routing
import ServiceLifecycle
import Storage

/// Where several gateways share a store, each follows the versions the others apply: a rules or
/// agencies change made through any gateway is live on every one within `interval`.
extension RulesAdministrator {
    /// Installs any stored version newer than the live one, agencies first (the rules are checked
    /// against them). A stored version this gateway cannot install (a secret its environment
    /// lacks) is reported once and the live version stays.
    public func followStore() async {
        _ = try? await exclusively {
            for document in [GovernedDocument.agencies, .rules] {
                do {
                    guard let newest = try await store.versionHistory(of: document, limit: 1).first,
                        newest.number > live.current.record(of: document)?.number ?? 0,
                        let latest = try await store.version(newest.number, of: document)
                    else { continue }
                    try await adopt(latest, of: document)
                    logger.notice(
                        "\(document == .rules ? "Rules" : "Agencies") version applied through another gateway is live here",
                        metadata: ["document": "\(document.rawValue)", "number": "\(latest.number)", "version": "\(latest.version)"])
                } catch {
                    logger.debug("Could not follow the stored versions", metadata: ["error.type": "\(type(of: error))"])
                }
            }
        }
    }

    /// Makes a stored version live here without storing anything.
    func adopt(_ record: RulesVersionRecord, of document: GovernedDocument) async throws {
        let rules: RuleSet
        do {
            rules = try prepare(record.text ?? "", for: document)
        } catch {
            if reportedUninstallable[document] != record.number {
                reportedUninstallable[document] = record.number
                logger.error(
                    "A stored \(document.rawValue) version cannot be installed on this gateway; the live version stays",
                    metadata: ["number": "\(record.number)", "version": "\(record.version)", "problem": "\(Self.problem(error))"])
            }
            throw error
        }
        let snapshot = live.current
        if document == .agencies, let installer { try await installer.install(rules.directory) }
        live.replace(
            .init(
                rules: rules, record: document == .rules ? record : snapshot.record,
                agenciesRecord: document == .agencies ? record : snapshot.agenciesRecord))
    }
}

extension RulesAdministrator {
    /// What stopped a stored version installing, in the configuration's own terms (it names
    /// settings and agencies, never referrals).
    nonisolated static func problem(_ error: any Error) -> String {
        if case Refusal.invalid(let issues) = error { return issues.map { "\($0.file):\($0.line): \($0.message)" }.joined(separator: "; ") }
        return "\(type(of: error))"
    }
}
