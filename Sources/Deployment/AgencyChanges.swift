import Audit
import Delivery
import Foundation
import Settings
import UseCases

/// Fills in the administrator's `AgencyInstaller` port: a changed agencies.yaml is validated as
/// start-up validates it (adapters and their options, secrets in this gateway's environment), and
/// installed by handing the dispatcher its new delivery targets.
extension GatewayComponents {
    /// A test delivery to `agency` as the agencies text `text` describes it (a new agency, a new
    /// endpoint, secret or TLS setting) before that text is live; audited with who asked.
    /// - Returns: nil when the text names no such agency. Throws the text's problems.
    public func testDelivery(agency: String, proposedAgencies text: String, by actor: String) async throws -> PingResult? {
        let set = try configuration.agencies(text, file: configuration.settings.agenciesPath)
        var proposed = configuration
        proposed.agencies = set.directory
        proposed.adapters = set.adapters
        proposed.agencySecrets = set.secrets
        guard let target = Self.agencyTargets(proposed).first(where: { $0.agencyId == agency }) else { return nil }
        let result = await dispatcher.ping(target)
        try await store.appendAudit([
            AuditNarrative.agencyPinged(
                agency: agency, at: clock.now(), by: actor, outcome: result.outcome, status: result.status, milliseconds: result.milliseconds)
        ])
        return result
    }
}

struct DeploymentAgencyInstaller: AgencyInstaller {
    let configuration: DeploymentConfiguration
    let dispatcher: Dispatcher

    func validate(_ text: String, file: String) throws(ConfigError) -> AgencyDirectory {
        try configuration.agencies(text, file: file).directory
    }

    func install(_ agencies: AgencyDirectory) async throws {
        let set = try configuration.agencies(agencies.text, file: configuration.settings.agenciesPath)
        var changed = configuration
        changed.agencies = set.directory
        changed.adapters = set.adapters
        changed.agencySecrets = set.secrets
        try await dispatcher.reconfigure(targets: GatewayComponents.deliveryTargets(changed))
    }
}
