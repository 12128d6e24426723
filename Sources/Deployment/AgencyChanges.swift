import Audit
import Delivery
import Foundation
import ReferralModel
import Settings
import Transport
import UseCases

extension DeploymentConfiguration {
    /// This configuration with the agencies `text` describes: validated as start-up validates them
    /// (adapters and their options, secrets in this gateway's environment). Throws the text's problems.
    func replacingAgencies(with text: String) throws(ConfigError) -> DeploymentConfiguration {
        let set = try agencies(text, file: settings.agenciesPath)
        var changed = self
        changed.agencies = set.directory
        changed.adapters = set.adapters
        changed.agencySecrets = set.secrets
        return changed
    }
}

/// Fills in the administrator's `AgencyInstaller` port: a changed agencies.yaml is validated as
/// start-up validates it (adapters and their options, secrets in this gateway's environment), and
/// installed by handing the dispatcher its new delivery targets.
struct DeploymentAgencyInstaller: AgencyInstaller {
    let configuration: DeploymentConfiguration
    let dispatcher: Dispatcher
    let transport: any HTTPTransport
    let clock: any WallClock

    func validate(_ text: String, file: String) throws(ConfigError) -> AgencyDirectory {
        try configuration.agencies(text, file: file).directory
    }

    func testDelivery(agency: AgencyID, proposedAgencies text: String) async throws -> PingResult? {
        let proposed = try configuration.replacingAgencies(with: text)
        guard let target = GatewayComponents.agencyTargets(proposed, transport: transport, clock: clock).first(where: { $0.agencyId == agency })
        else { return nil }
        return await dispatcher.ping(target)
    }

    func install(_ agencies: AgencyDirectory) async throws {
        try await dispatcher.reconfigure(
            targets: GatewayComponents.deliveryTargets(
                try configuration.replacingAgencies(with: agencies.text), transport: transport, clock: clock))
    }
}
