import Foundation
import ReferralModel
import Settings
import Yams

/// The places a deployment serves (`service_area` in rules.yaml): postcode areas, districts,
/// sectors or units, and local authorities by GSS code (resolved through the imported postcode
/// directory). A referral for someone who lives elsewhere is not routed by the rules, so it
/// never lands in a local council's case system by default: it goes to the `out_of_area` agency
/// when one is named, or is held (status `out-of-area`) for the referrer to send to the right area.
public struct ServiceArea: Sendable, Equatable {
    /// Postcode prefixes, upper case (`OX`, `RG9`, `SN7`).
    public var prefixes: [String]
    /// Local authorities' GSS codes (`E10000025`).
    public var localAuthorities: [String]
    /// The agency that takes referrals from elsewhere; nil to hold them.
    public var outOfAreaAgency: AgencyID?

    public init(prefixes: [String], localAuthorities: [String] = [], outOfAreaAgency: AgencyID?) {
        self.prefixes = prefixes
        self.localAuthorities = localAuthorities
        self.outOfAreaAgency = outOfAreaAgency
    }

    /// True when the (normalised) postcode lies outside every prefix and its local authorities
    /// (as the postcode directory gives them) are none of the area's. One whose shape is not known
    /// is not known to be outside, so the rules route it; one the directory does not know is
    /// outside unless a prefix takes it in: it is held, never sent to the wrong council.
    public func excludes(_ postcode: String, localAuthorities own: Set<String> = []) -> Bool {
        let prefixesOfPostcode = Set(Postcode.prefixes(of: postcode))
        guard !prefixesOfPostcode.isEmpty else { return false }
        if prefixes.contains(where: prefixesOfPostcode.contains) { return false }
        return !localAuthorities.contains(where: own.contains)
    }
}

extension RuleSet {
    /// The rule id recorded when a referral from outside the service area goes to the out-of-area agency.
    public static let outOfAreaRuleId = "out-of-area"

    /// The decision for a referral from outside the service area, or nil when it is inside (or no
    /// area is set). A safeguarding concern is routed by the rules wherever the person lives: the
    /// duty falls on the area the adult is in, and the hub passes it on if it belongs elsewhere. So
    /// is an emergency or urgent referral, unless `out_of_area_urgent: attention`: crisis care is
    /// owed where the person is, not where they live. The consent policy still applies afterwards.
    func outOfAreaDecision(for referral: Referral, localAuthorities: Set<String>) -> RoutingDecision? {
        guard let serviceArea, serviceArea.excludes(referral.subject.postcode, localAuthorities: localAuthorities) else { return nil }
        let safeguardingConcern = referral.safeguarding == true || referral.needs.contains { $0.hasPrefix("safeguarding") }
        guard !safeguardingConcern else { return nil }
        if Self.cannotWait(referral.urgency), outOfAreaUrgent == .route { return nil }
        var decision = RoutingDecision(rulesVersion: version, targets: [], matchedRules: [], usedFallback: false)
        decision.outOfArea = true
        if let agency = serviceArea.outOfAreaAgency {
            decision.targets = [.init(agency: agency, rule: Self.outOfAreaRuleId, alternatives: [])]
        }
        return decision
    }

    /// What an emergency or urgent referral from outside the service area does: `route`, by the
    /// rules as if it were inside (the default); `attention`, held (or sent to the out-of-area
    /// agency) like a routine one, and put in front of a person at once.
    public enum OutOfAreaUrgent: String, Sendable, Equatable {
        case route, attention
    }

    /// `out_of_area_urgent: route | attention`.
    static func outOfAreaUrgent(_ top: [String: Node]?, serviceArea: ServiceArea?, reader: ConfigReader) -> OutOfAreaUrgent {
        guard let node = top?["out_of_area_urgent"], let text = reader.string(node, "out_of_area_urgent") else { return .route }
        guard let value = OutOfAreaUrgent(rawValue: text) else {
            reader.fail(
                node, "out_of_area_urgent must be route or attention, not '\(text)'",
                hint: "route: the rules apply as if the person were in the area; attention: held for a person to act on at once")
            return .route
        }
        if serviceArea == nil {
            reader.fail(node, "out_of_area_urgent needs a service_area", hint: "without one, every referral is routed by the rules")
        }
        return value
    }

    /// `service_area: [postcode prefixes and GSS codes]` and `out_of_area: hold | AGENCY`.
    static func serviceArea(_ top: [String: Node]?, agencies: Set<AgencyID>, reader: ConfigReader) -> ServiceArea? {
        let outOfArea = reader.string(top?["out_of_area"], "out_of_area")
        guard let node = top?["service_area"] else {
            if outOfArea != nil {
                reader.fail(
                    top?["out_of_area"], "out_of_area needs a service_area",
                    hint: "list the postcode areas this deployment serves, e.g. [OX, RG9, SN7]")
            }
            return nil
        }
        let places = (reader.strings(node, "service_area") ?? []).map { $0.uppercased() }
        if places.isEmpty { reader.fail(node, "service_area lists no places", hint: "for example [OX, RG9, SN7] or [E10000025]") }
        var prefixes: [String] = []
        var authorities: [String] = []
        for place in places {
            if Postcode.isPrefix(place) {
                prefixes.append(place)
            } else if OrganisationType.localAuthority.problem(with: place) == nil {
                authorities.append(place)
            } else {
                reader.fail(
                    node, "'\(place)' is neither a postcode area, district, sector or full postcode nor a local authority's GSS code",
                    hint: "for example OX, RG9 or SN7 7, or E10000025 for Oxfordshire")
            }
        }
        var agency: AgencyID?
        if let outOfArea, outOfArea != "hold" {
            if agencies.contains(AgencyID(outOfArea)) {
                agency = AgencyID(outOfArea)
            } else {
                reader.fail(
                    top?["out_of_area"], "out_of_area must be 'hold' or an agency, not '\(outOfArea)'",
                    hint: "agencies.yaml defines: \(agencies.sorted().joined(separator: ", "))")
            }
        }
        return ServiceArea(prefixes: prefixes, localAuthorities: authorities, outOfAreaAgency: agency)
    }
}
