import AdapterKit
import Delivery
import Foundation
import ReferralModel
import Routing
import Settings

/// A whole configuration, validated together: switchboard.yaml's settings, the agencies with their
/// adapters set up from their options, the rules, and the signing secrets the agencies name. Every
/// problem in every file is reported at once, each with its file, line and column.
public struct DeploymentConfiguration: Sendable {
    public var settings: SwitchboardSettings
    public var agencies: AgencyDirectory
    public var rules: RuleSet
    /// The environment variables agencies' signing and authentication secrets are read from, resolved.
    public var agencySecrets: [String: String]
    /// Each agency's adapter, set up from its options, by agency id.
    public var adapters: [AgencyID: any AgencyAdapter]
    /// Where the secrets were read from, for validating a change to the agencies the same way.
    var environment: [String: String] = [:]
    var requireSecrets = true

    /// The adapter names `agencies.yaml` may use.
    public static var adapterNames: Set<String> { AdapterCatalogue.registry.names }

    /// Loads `path` and the agencies and rules files it names. Environment variables the files name
    /// are read from `environment`.
    /// - Parameter requireSecrets: false for commands that only read the configuration (rendering
    ///   what an agency would be sent), so keys and signing secrets need not be in the environment.
    public static func load(
        path: String, environment: [String: String] = ProcessInfo.processInfo.environment, requireSecrets: Bool = true
    ) throws(ConfigError) -> DeploymentConfiguration {
        let (read, settingsIssues) = SwitchboardSettings.read(path: path, environment: environment, requireSecrets: requireSecrets)
        guard let settings = read else { throw ConfigError(issues: settingsIssues) }
        // Problems in the files switchboard.yaml points at, and in the environment they name.
        var elsewhere: [ConfigIssue] = []
        var agencies: Agencies?
        do {
            let directory = try AgencyDirectory.load(path: settings.agenciesPath, adapters: adapterNames, vocabulary: settings.vocabulary)
            let (set, issues) = setUp(
                directory, file: settings.agenciesPath, settings: settings, environment: environment, requireSecrets: requireSecrets)
            agencies = set
            elsewhere += issues
        } catch {
            elsewhere += error.issues
        }
        var rules: RuleSet?
        if let agencies {
            do {
                rules = try RuleSet.load(path: settings.rulesPath, agencies: agencies.directory, vocabulary: settings.vocabulary)
            } catch {
                elsewhere += error.issues
            }
        }
        if let agencies {
            // An agency key answers for one agency, which must be one this configuration defines.
            for key in settings.apiKeys where key.agency != nil && agencies.directory[AgencyID(key.agency ?? "")] == nil {
                elsewhere.append(
                    ConfigIssue(
                        file: settings.path, line: 1, column: 1,
                        message: "API key '\(key.id)' names agency '\(key.agency ?? "")', which agencies.yaml does not define",
                        hint: "agencies.yaml defines: \(agencies.directory.agencies.map(\.id).joined(separator: ", "))"))
            }
        }
        let issues = settingsIssues + elsewhere
        guard issues.isEmpty, let agencies, let rules else { throw ConfigError(issues: issues) }
        return DeploymentConfiguration(
            settings: settings, agencies: agencies.directory, rules: rules, agencySecrets: agencies.secrets, adapters: agencies.adapters,
            environment: environment, requireSecrets: requireSecrets)
    }

    /// Agencies ready to deliver to: the directory, each agency's adapter and the secrets they name.
    struct Agencies {
        var directory: AgencyDirectory
        var adapters: [AgencyID: any AgencyAdapter]
        var secrets: [String: String]
    }

    /// Validates an agencies.yaml text as start-up does, against this configuration's adapters,
    /// vocabulary and environment: what an administrator's change to the agencies must pass.
    func agencies(_ text: String, file: String) throws(ConfigError) -> Agencies {
        let directory = try AgencyDirectory.parse(text, file: file, adapters: Self.adapterNames, vocabulary: settings.vocabulary)
        let (agencies, issues) = Self.setUp(directory, file: file, settings: settings, environment: environment, requireSecrets: requireSecrets)
        guard issues.isEmpty else { throw ConfigError(issues: issues) }
        return agencies
    }

    /// Validates an agencies text and checks the configured rules against it: what
    /// `switchboard agencies validate` reports.
    public func validateAgencies(_ text: String, file: String) throws(ConfigError) -> AgencyDirectory {
        let directory = try agencies(text, file: file).directory
        _ = try RuleSet.parse(rules.text, file: settings.rulesPath, agencies: directory, vocabulary: settings.vocabulary)
        return directory
    }

    private static func setUp(
        _ directory: AgencyDirectory, file: String, settings: SwitchboardSettings, environment: [String: String], requireSecrets: Bool
    ) -> (Agencies, [ConfigIssue]) {
        let (adapters, adapterIssues) = setUpAdapters(directory, file: file, vocabulary: settings.vocabulary)
        let (secrets, missing) = signingSecrets(directory, file: file, environment: environment, requireSecrets: requireSecrets)
        return (Agencies(directory: directory, adapters: adapters, secrets: secrets), adapterIssues + missing)
    }

    /// Each agency's adapter, checked against its options; problems name the agency and the option's line.
    private static func setUpAdapters(
        _ directory: AgencyDirectory, file: String, vocabulary: NeedsVocabulary
    ) -> ([AgencyID: any AgencyAdapter], [ConfigIssue]) {
        var adapters: [AgencyID: any AgencyAdapter] = [:]
        var issues: [ConfigIssue] = []
        for agency in directory.agencies {
            let setup = AdapterSetup(
                options: agency.options, line: agency.optionsLine, column: agency.optionsColumn,
                configDirectory: URL(fileURLWithPath: file).deletingLastPathComponent(), agencyId: agency.id.rawValue, endpoint: agency.endpoint,
                agencyName: agency.name, vocabulary: vocabulary)
            do {
                adapters[agency.id] = try AdapterCatalogue.registry.make(agency.adapter, setup: setup)
            } catch {
                issues += error.errors.map {
                    ConfigIssue(
                        file: file, line: $0.line, column: $0.column, message: "agency '\(agency.id)', adapter \(agency.adapter): \($0.message)",
                        hint: $0.hint)
                }
            }
        }
        return (adapters, issues)
    }

    /// The signing secrets the agencies name, and a problem for each that is not set.
    private static func signingSecrets(
        _ directory: AgencyDirectory, file: String, environment: [String: String], requireSecrets: Bool
    ) -> ([String: String], [ConfigIssue]) {
        var secrets: [String: String] = [:]
        var issues: [ConfigIssue] = []
        for agency in directory.agencies {
            for name in [agency.secretEnv, agency.previousSecretEnv].compactMap(\.self) {
                if let secret = environment[name], !secret.isEmpty {
                    secrets[name] = secret
                    if !secret.hasPrefix("whsec_") || WebhookSigner(secret: secret) == nil {
                        issues.append(
                            ConfigIssue(
                                file: file, line: 1, column: 1,
                                message: "agency '\(agency.id)': environment variable \(name) does not hold a signing secret",
                                hint: "a secret is whsec_ followed by at least 16 bytes in base64; `switchboard receiver --new-secret` makes one"))
                    }
                } else if requireSecrets {
                    issues.append(
                        ConfigIssue(
                            file: file, line: 1, column: 1, message: "agency '\(agency.id)': environment variable \(name) is not set",
                            hint: "export \(name)=whsec_<base64 key>; `switchboard receiver --new-secret` makes one"))
                }
            }
            if let name = agency.authorization.flatMap(\.environmentName) {
                if let secret = environment[name], !secret.isEmpty {
                    secrets[name] = secret
                } else if requireSecrets {
                    issues.append(
                        ConfigIssue(
                            file: file, line: 1, column: 1,
                            message: "agency '\(agency.id)': environment variable \(name) (its auth secret) is not set",
                            hint: "export \(name) with the token or password the agency gave you"))
                }
            }
        }
        return (secrets, issues)
    }
}
