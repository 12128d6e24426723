// Rule evaluation benchmark: `bench/rules [SECONDS]`.
//
// Builds a synthetic region the way a large deployment's rules look (a rule per need per postcode
// district, routing to each area's own services, plus region-wide rules for safeguarding, out of
// hours, crisis, interpreters and the very old that every referral must be tried against), parses
// it with the real validator, then routes a mix of referrals on one thread:
//   indexed   RuleSet.route, which evaluates only the rules its index finds for the referral's
//             needs and postcode
//   scan      RuleSet.routeByScanning, every rule in order: the baseline, measured in the same run
// at 100, 1,000 and 10,000 rules. Referral postcodes are drawn from the districts each rule set
// covers (nine in ten) or from outside it, so every size does comparable routing work.
// Every decision of the indexed router is checked against the scan before timing. Last, how long
// parsing and validating each rule set took: what `rules apply` waits for before the swap.
import Foundation
import ReferralModel
import Routing
import Settings

let seconds = CommandLine.arguments.count > 1 ? Double(CommandLine.arguments[1]) ?? 1 : 1
let needs = NeedsVocabulary.standard.codes
let districtsPerArea = 20

/// Two-letter areas AA, AB, …, each with districts AA1 … AA20.
func district(_ index: Int) -> (area: String, district: String) {
    let letters = Array("ABCDEFGHIJKLMNOPRSTUWYZ")
    let areaIndex = index / districtsPerArea
    let area = String(letters[areaIndex / letters.count % letters.count]) + String(letters[areaIndex % letters.count])
    return (area, area + String(index % districtsPerArea + 1))
}

/// The region's agencies and rules, as YAML an administrator would write.
func region(rules count: Int) -> (agencies: String, rules: String, districts: Int) {
    let global = 5
    let districts = max(1, (count - global + needs.count - 1) / needs.count)
    var areas: [String] = []
    for index in 0..<districts where !areas.contains(district(index).area) { areas.append(district(index).area) }
    var agencies = "agencies:\n"
    func agency(_ id: String) {
        agencies += "  - {id: \(id), name: \(id), adapter: json-webhook, endpoint: \"http://127.0.0.1:9/\(id)\"}\n"
    }
    for id in ["region-mash", "region-edt", "region-crisis", "region-interpreting", "region-older-people", "region-spa"] { agency(id) }
    for area in areas {
        for service in ["spa", "community", "voluntary"] { agency("\(area.lowercased())-\(service)") }
    }
    func provider(_ area: String, _ need: String) -> String {
        switch need {
        case "falls-prevention", "district-nursing", "reablement": "\(area.lowercased())-community"
        case "befriending", "carers-support": "\(area.lowercased())-voluntary"
        default: "\(area.lowercased())-spa"
        }
    }
    var rules = """
        rules:
          - id: safeguarding
            when: {any: [{safeguarding: true}, {needs: safeguarding-adult}]}
            route_to: region-mash
          - id: out-of-hours
            when: {urgency: [urgent, emergency], not: {time: {days: [weekdays], from: "09:00", to: "17:00"}}}
            route_to: region-edt
          - id: crisis
            when: {needs: mental-health-crisis}
            route_to: region-crisis
          - id: interpreter
            when: {field: subject/interpreterNeeded, equals: "true"}
            route_to: region-interpreting
          - id: oldest-old
            when: {age: {min: 95}}
            route_to: region-older-people

        """
    var written = global
    outer: for index in 0..<districts {
        let (area, name) = district(index)
        for (offset, need) in needs.enumerated() {
            guard written < count else { break outer }
            let condition =
                switch (index + offset) % 7 {
                case 0: "{needs: \(need), postcode: \(name), age: {min: 18}}"
                case 1: "{all: [{needs: \(need)}, {any: [{postcode: \(name)}, {postcode: \"\(name) 9\"}]}]}"
                default: "{needs: \(need), postcode: \(name)}"
                }
            rules += "  - id: \(need)-\(name.lowercased())\n    when: \(condition)\n    route_to: \(provider(area, need))\n"
            written += 1
        }
    }
    rules += "fallback: region-spa\n"
    return (agencies, rules, districts)
}

struct Mix {
    var referrals: [(Referral, Date)] = []

    init(districts: Int, count: Int) {
        var random = SystemRandomNumberGenerator()
        // A week from Monday 2026-11-23 00:00 UTC, so office hours and nights both occur.
        let monday = 1_763_856_000.0
        for index in 0..<count {
            let inside = index % 10 != 0
            let place = inside ? district(Int.random(in: 0..<districts, using: &random)).district : "ZZ\(index % 9 + 1)"
            let postcode = "\(place) \(Int.random(in: 1...9, using: &random))AB"
            let chosen = Array(needs.shuffled(using: &random).prefix(Int.random(in: 1...3, using: &random)))
            let referral = Referral(
                referrer: .init(organisation: "A81001", name: "Synthetic Referrer"),
                subject: .init(
                    givenName: "Synthetic", familyName: "Person", birthDate: "19\(Int.random(in: 25...99, using: &random))-06-15", postcode: postcode,
                    interpreterNeeded: index % 13 == 0),
                needs: chosen, urgency: Urgency.allCases.randomElement(using: &random)!, reason: "synthetic", consent: .init(status: .given),
                safeguarding: index % 20 == 0)
            referrals.append((referral, Date(timeIntervalSince1970: monday + Double.random(in: 0..<604_800, using: &random))))
        }
    }
}

/// Decisions per second for `route` over the mix, for at least `seconds`.
func measure(_ mix: Mix, _ route: (Referral, Date) -> RoutingDecision) -> (rate: Double, sink: Int) {
    var sink = 0
    var evaluations = 0
    let clock = ContinuousClock()
    let start = clock.now
    var elapsed = Duration.zero
    repeat {
        for (referral, at) in mix.referrals { sink &+= route(referral, at).targets.count }
        evaluations += mix.referrals.count
        elapsed = clock.now - start
    } while elapsed < .seconds(seconds)
    let total = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return (Double(evaluations) / total, sink)
}

print("Rule evaluation, one thread, at least \(seconds) s per figure:")
print("rules     indexed/s        scan/s   indexed/scan   targets per referral")
var indexedRates: [Int: Double] = [:]
var validationTimes: [Int: Duration] = [:]
var sinks = 0
for size in [100, 1_000, 10_000] {
    let (agenciesText, rulesText, districts) = region(rules: size)
    let directory = try AgencyDirectory.parse(agenciesText, file: "agencies.yaml", adapters: ["json-webhook"])
    let parseStart = ContinuousClock.now
    let rules = try RuleSet.parse(rulesText, file: "rules.yaml", agencies: directory, vocabulary: .standard)
    validationTimes[size] = ContinuousClock.now - parseStart
    precondition(rules.rules.count == size, "generated \(rules.rules.count) rules, wanted \(size)")
    let mix = Mix(districts: districts, count: 2_000)
    var targets = 0
    for (referral, at) in mix.referrals {
        let indexed = rules.route(referral, at: at)
        guard indexed == rules.routeByScanning(referral, at: at) else {
            print("MISMATCH at \(size) rules: the index and the scan disagree; the figures would mean nothing")
            exit(1)
        }
        targets += indexed.targets.count
    }
    let indexed = measure(mix) { rules.route($0, at: $1) }
    let scan = measure(mix) { rules.routeByScanning($0, at: $1) }
    sinks &+= indexed.sink &+ scan.sink
    indexedRates[size] = indexed.rate
    print(
        String(
            format: "%6d %13.0f %13.0f %14.1f %22.2f", size, indexed.rate, scan.rate, indexed.rate / scan.rate,
            Double(targets) / Double(mix.referrals.count)))
}
let growth = indexedRates[1_000]! / indexedRates[10_000]!
print(String(format: "indexed, 100 -> 1,000 rules: cost x %.2f", indexedRates[100]! / indexedRates[1_000]!))
print(String(format: "indexed, 1,000 -> 10,000 rules: cost x %.2f (target < 3)", growth))
print(String(format: "indexed at 1,000 rules: %.0f evaluations/s (target >= 200,000 on one core)", indexedRates[1_000]!))
for size in [100, 1_000, 10_000] {
    let time = validationTimes[size]!
    let milliseconds = Double(time.components.seconds) * 1_000 + Double(time.components.attoseconds) / 1e15
    print(String(format: "parsing and validating %6d rules (what an apply waits for): %8.1f ms", size, milliseconds))
}
if sinks == 42 { print("") }  // keeps the work observable to the optimiser
