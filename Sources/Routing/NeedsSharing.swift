import ReferralModel

/// Minimum necessary for needs: an agency a rule chose learns only the needs that rule routes for,
/// so a befriending charity is not told of a mental-health crisis another rule sent elsewhere.
extension Condition {
    /// The needs this condition asks for, outside any `not`.
    var namedNeeds: Set<String> {
        switch self {
        case .all(let conditions), .any(let conditions): conditions.reduce(into: []) { $0.formUnion($1.namedNeeds) }
        case .needsAny(let needs): Set(needs)
        case .not, .urgencyIn, .postcodeIn, .localAuthorityIn, .safeguarding, .field, .age, .time, .always: []
        }
    }
}

extension Rule {
    /// Of a referral's `needs`, those this rule routed it for, in the referral's order; nil when the
    /// rule routes regardless of need (or for none the referral has), so its agencies get them all.
    func needsRoutedFor(_ needs: [String]) -> [String]? {
        guard !namedNeeds.isEmpty else { return nil }
        let routed = needs.filter(namedNeeds.contains)
        return routed.isEmpty ? nil : routed
    }
}
