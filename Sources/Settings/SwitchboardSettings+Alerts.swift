import Foundation
import ReferralModel
import Yams

/// `alerts: {url, secret_env, urgencies}`: where the gateway tells a person on call that an
/// emergency or urgent referral needs them (an attention item opened): a Standard Webhooks event
/// (`attention.opened`) posted to an on-call system, signed with the secret in `secret_env` and
/// retried like any delivery, in a lane of its own.
public struct AlertSettings: Sendable, Equatable {
    public var url: String
    public var secretEnv: String?
    /// The signing secret (`whsec_…`), read from the environment.
    public var secret: String?
    /// The urgencies whose attention items raise an alert; emergency and urgent by default.
    public var urgencies: Set<Urgency>

    public init(url: String, secretEnv: String? = nil, secret: String? = nil, urgencies: Set<Urgency> = [.emergency, .urgent]) {
        self.url = url
        self.secretEnv = secretEnv
        self.secret = secret
        self.urgencies = urgencies
    }
}

extension SectionReader {
    func alerts(_ node: Node?, environment: [String: String], requireSecrets: Bool) -> AlertSettings? {
        guard let node, let entries = reader.mapping(node, "alerts", allowed: ["url", "secret_env", "urgencies"], required: ["url"]) else {
            return nil
        }
        guard let url = reader.string(entries["url"], "url") else { return nil }
        if !(url.hasPrefix("https://") || url.hasPrefix("http://")) || URL(string: url)?.host == nil {
            reader.fail(
                entries["url"], "alerts url '\(url)' is not an http or https URL",
                hint: "the on-call system's webhook, such as https://oncall.example.org/hooks/switchboard")
        }
        let name = reader.string(entries["secret_env"], "secret_env")
        if let name, !isEnvironmentName(name) {
            reader.fail(
                entries["secret_env"], "secret_env must name an environment variable, such as SWITCHBOARD_ALERTS_SECRET",
                hint: "never write the secret itself in this file")
        }
        let secret = name.flatMap { environment[$0] }.flatMap { $0.isEmpty ? nil : $0 }
        if let name, secret == nil, requireSecrets {
            reader.fail(entries["secret_env"], "environment variable \(name) is not set", hint: "export \(name)=whsec_<base64 key>")
        }
        var urgencies: Set<Urgency> = [.emergency, .urgent]
        if let node = entries["urgencies"], let names = reader.strings(node, "urgencies") {
            urgencies = []
            for (name, item) in zip(names, listItems(node)) {
                guard let urgency = Urgency(rawValue: name) else {
                    reader.fail(item, "'\(name)' is not an urgency", hint: "emergency, urgent or routine")
                    continue
                }
                urgencies.insert(urgency)
            }
            if names.isEmpty { reader.fail(node, "urgencies lists none", hint: "leave alerts out to send none, or list emergency and urgent") }
        }
        return AlertSettings(url: url, secretEnv: name, secret: secret, urgencies: urgencies)
    }
}
