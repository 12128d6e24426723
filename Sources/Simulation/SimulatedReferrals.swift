import Foundation
import ReferralModel

/// One referral the scenario sends: when, and what the simulator needs to know of it later.
struct SimulatedArrival: Sendable {
    /// The simulation's own reference (`SIM-000042`), sent as the referral's `externalReference`.
    var reference: String
    var at: Date
    var urgency: Urgency
    var body: [UInt8]
}

extension Scenario {
    /// Every referral of the scenario, in order of arrival: each hour's count drawn from its mean,
    /// each referral's contents from the mixes, all fixed by the seed.
    func arrivals() -> [SimulatedArrival] {
        var arrivals: [SimulatedArrival] = []
        var clockRandom = SeededRandom(seed, 1)
        var hour = start
        var times: [Date] = []
        while hour < arrivalsEnd {
            let local = LondonTime(hour)
            let rate = referrals.hourly[local.weekday]?[local.minute / 60] ?? 0
            let count = clockRandom.poisson(rate)
            times += (0..<count).map { _ in hour.addingTimeInterval((clockRandom.unit() * 3_600).rounded(.down)) }.sorted()
            hour.addTimeInterval(3_600)
        }
        for (index, time) in times.enumerated() {
            var random = SeededRandom(seed, 2, UInt64(index))
            let reference = "SIM-" + String(format: "%06d", index + 1)
            let urgency = random.pick(referrals.urgency) ?? .routine
            arrivals.append(
                SimulatedArrival(
                    reference: reference, at: time, urgency: urgency, body: body(reference: reference, urgency: urgency, at: time, random: &random)))
        }
        return arrivals
    }

    /// A referral as a referrer's system sends it, with made-up people in the NHS's test range of
    /// numbers (999…): never anyone real.
    private func body(reference: String, urgency: Urgency, at: Date, random: inout SeededRandom) -> [UInt8] {
        var needs = [random.pick(referrals.needs) ?? "adult-social-care"]
        if random.unit() * 100 < referrals.secondNeedPercent, let second = random.pick(referrals.needs), !needs.contains(second) {
            needs.append(second)
        }
        let band = random.pick(referrals.ages) ?? 18...90
        let age = band.lowerBound + Int(random.unit() * Double(band.count))
        let postcode = random.pick(referrals.postcodes) ?? "OX3 9DU"
        let consent = random.pick(referrals.consent) ?? .given
        // A referral without consent is made only for someone at risk of harm: the gateway accepts no other.
        let safeguarding = consent == .refused || random.unit() * 100 < referrals.safeguardingPercent
        let today = LondonTime(at)
        // A birthday later in the year, so the person is `age` on the day.
        let birth = String(format: "%04d-%02d-%02d", today.year - age - 1, 12, 31)
        var consentObject: [String: Any] = ["status": consent.rawValue]
        if consent == .refused {
            consentObject["lawfulBasis"] = safeguarding ? "safeguarding" : "vital-interests"
            consentObject["decisionMaker"] = "Simulated duty social worker"
        }
        if consent == .given, age < 16 { consentObject["parentalResponsibility"] = "Simulated parent" }
        let object: [String: Any] = [
            "referrer": ["organisation": "K84001", "name": "Simulated referrer", "role": "GP"],
            "subject": [
                "nhsNumber": Self.testNHSNumber(&random), "givenName": "Simulated", "familyName": "Person", "birthDate": birth, "postcode": postcode,
            ],
            "needs": needs,
            "urgency": urgency.rawValue,
            "reason": "Simulated referral.",
            "consent": consentObject,
            "safeguarding": safeguarding,
            "externalReference": reference,
        ]
        return Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data())
    }

    /// A valid NHS number in the test range (999 …), its check digit by modulus 11.
    static func testNHSNumber(_ random: inout SeededRandom) -> String {
        while true {
            var digits = [9, 9, 9] + (0..<6).map { _ in Int(random.next() % 10) }
            let sum = digits.enumerated().reduce(0) { $0 + $1.element * (10 - $1.offset) }
            let check = 11 - sum % 11
            if check == 10 { continue }
            digits.append(check == 11 ? 0 : check)
            return digits.map(String.init).joined()
        }
    }
}
