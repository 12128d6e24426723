import Foundation
import Yams

/// Whether a gateway is live. In production, NHS numbers in the 999 range NHS England reserves
/// for testing are refused: one in a live referral is a test left in, or a mistyped number.
public enum DeploymentEnvironment: String, Sendable, Codable, CaseIterable {
    case production, test
}

extension SectionReader {
    /// `environment: production` or `environment: test`.
    func environment(_ node: Node?) -> DeploymentEnvironment? {
        guard let text = reader.string(node, "environment") else { return nil }
        guard let environment = DeploymentEnvironment(rawValue: text) else {
            reader.fail(
                node, "environment must be production or test, not '\(text)'",
                hint: "production refuses the 999 test range of NHS numbers; test accepts them")
            return nil
        }
        return environment
    }
}
