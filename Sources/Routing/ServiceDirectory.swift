import ReferralModel
import Settings

extension AgencyDirectory {
    /// The agencies that offer `service` and cover `postcode`, the most specific coverage first
    /// (a unit before a sector, a sector before a district, a district before an area); agencies
    /// equally specific keep the file's order. Coverage may name local authorities by GSS code,
    /// matched against `localAuthorities` (the postcode directory's answer for the postcode): a
    /// county ranks with a postcode area, a district or unitary authority with a postcode district.
    public func offering(_ service: String, covering postcode: String, in localAuthorities: Set<String> = []) -> [Agency] {
        let prefixes = Postcode.prefixes(of: postcode)
        var ranked: [(specificity: Int, order: Int, agency: Agency)] = []
        for (order, agency) in agencies.enumerated() where agency.services.contains(service) {
            var best = -1
            for area in agency.coverage {
                if let specificity = prefixes.firstIndex(of: area), specificity > best { best = specificity }
                if localAuthorities.contains(area) { best = max(best, area.hasPrefix("E10") ? 0 : 1) }
            }
            if best >= 0 { ranked.append((best, order, agency)) }
        }
        ranked.sort { $0.specificity != $1.specificity ? $0.specificity > $1.specificity : $0.order < $1.order }
        return ranked.map(\.agency)
    }
}
