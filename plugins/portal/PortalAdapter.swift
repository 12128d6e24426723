import AdapterKit
import Foundation
import ReferralModel

/// For an agency without a system of its own: nothing is pushed anywhere. Each referral waits in
/// the agency's web inbox at the console (`/console/inbox`), where its staff open it (the read is
/// audited) and accept, decline or complete it through the same lifecycle as the API. The agency
/// sees the referral as its data-sharing agreement allows, like any other.
public struct PortalAdapter: AgencyAdapter {
    public static let name = "portal"
    public static let summary = "No system of its own: referrals wait in the agency's web inbox at the console; no endpoint."
    public static let optionSpecs: [OptionSpec] = []
    public static let deliversToInbox = true

    public let mappedFields = Set(ReferralField.allCases)

    public init(setup: AdapterSetup) throws(AdapterOptionErrors) {
        try OptionReader(setup, specs: Self.optionSpecs).finish()
    }

    /// The canonical referral: what the inbox holds. The dispatcher never sends it.
    public func render(_ referral: Referral, context: DeliveryContext) throws -> OutboundRequest {
        OutboundRequest(body: Array(referral.canonicalJSON()), contentType: "application/json")
    }
}
