import Delivery
import Foundation
import Settings
import UseCases

/// Fills in the administrator's `AgencyInstaller` port: a changed agencies.yaml is validated as
/// start-up validates it (adapters and their options, secrets in this gateway's environment), and
/// installed by handing the dispatcher its new delivery targets.
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
