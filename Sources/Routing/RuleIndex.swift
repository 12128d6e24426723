import ReferralModel

/// Finds the rules that can match a referral without trying every rule.
///
/// Most rules say which needs they serve and where: "falls-prevention in OX4". From each rule's
/// condition the index works out what any matching referral must have (one of some needs, a
/// postcode in some areas, districts or sectors) and files the rule under those keys. A referral
/// then looks up its own needs and its postcode's four prefixes, and only the rules found there,
/// plus the rules that constrain neither, are evaluated, in file order. The answer is the same as
/// trying every rule in order: a rule left out could not have matched.
struct RuleIndex: Sendable, Equatable {
    private struct NeedAndPlace: Hashable {
        var need: String
        var place: String
    }

    /// Rule positions by need and postcode prefix, for rules that constrain both.
    private var byNeedAndPlace: [NeedAndPlace: [Int]] = [:]
    private var byNeed: [String: [Int]] = [:]
    private var byPlace: [String: [Int]] = [:]
    /// Rules that constrain neither: always candidates.
    private var unindexed: [Int] = []

    /// Above this many need × place keys a rule is filed under the smaller of the two alone.
    private static let maximumPairs = 64

    init(rules: [Rule]) {
        for (position, rule) in rules.enumerated() {
            let needs = Self.requiredNeeds(rule.when)
            let places = Self.requiredPlaces(rule.when)
            switch (needs, places) {
            case (let needs?, let places?) where needs.count * places.count <= Self.maximumPairs:
                for need in needs { for place in places { byNeedAndPlace[NeedAndPlace(need: need, place: place), default: []].append(position) } }
            case (let needs?, let places?) where places.count < needs.count:
                for place in places { byPlace[place, default: []].append(position) }
            case (let needs?, _):
                for need in needs { byNeed[need, default: []].append(position) }
            case (nil, let places?):
                for place in places { byPlace[place, default: []].append(position) }
            case (nil, nil):
                unindexed.append(position)
            }
        }
    }

    /// The positions of the rules that may match, ascending and each once.
    func candidates(for input: RoutingInput) -> [Int] {
        var found = unindexed
        let needs = input.referral.needs
        let places = input.postcodePrefixes
        for need in needs {
            if let list = byNeed[need] { found += list }
            if !byNeedAndPlace.isEmpty {
                for place in places {
                    if let list = byNeedAndPlace[NeedAndPlace(need: need, place: place)] { found += list }
                }
            }
        }
        for place in places {
            if let list = byPlace[place] { found += list }
        }
        found.sort()
        // A rule filed under two of the referral's needs is found twice.
        var unique: [Int] = []
        unique.reserveCapacity(found.count)
        for position in found where unique.last != position { unique.append(position) }
        return unique
    }

    /// Needs of which a matching referral must name at least one; nil when the condition does not
    /// say.
    static func requiredNeeds(_ condition: Condition) -> Set<String>? {
        switch condition {
        case .needsAny(let needs): return Set(needs)
        case .field(.needs, .equals(let need)): return [need]
        case .field(.needs, .oneOf(let needs)): return Set(needs)
        case .all(let parts): return narrowest(parts.map(requiredNeeds))
        case .any(let parts): return union(parts.map(requiredNeeds))
        default: return nil
        }
    }

    /// Postcode prefixes (area, district, sector or unit) of which a matching referral's postcode
    /// must have one; nil when the condition does not say.
    static func requiredPlaces(_ condition: Condition) -> Set<String>? {
        switch condition {
        case .postcodeIn(let prefixes): return Set(prefixes)
        case .all(let parts): return narrowest(parts.map(requiredPlaces))
        case .any(let parts): return union(parts.map(requiredPlaces))
        default: return nil
        }
    }

    /// Every part of `all` must hold, so any part's requirement is one: keep the smallest.
    private static func narrowest(_ sets: [Set<String>?]) -> Set<String>? {
        sets.compactMap { $0 }.min { $0.count < $1.count }
    }

    /// One part of `any` is enough, so the requirement is the union, and only if every part has one.
    private static func union(_ sets: [Set<String>?]) -> Set<String>? {
        guard !sets.isEmpty, sets.allSatisfy({ $0 != nil }) else { return nil }
        return sets.reduce(into: Set<String>()) { $0.formUnion($1!) }
    }
}
