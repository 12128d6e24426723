/// Synthetic referrals for checking adapters and templates: every field filled, only the required
/// ones, and text that breaks careless escaping. NHS numbers are from the 999 test range.
public enum ExampleReferrals {
    public static let complete = Referral(
        referrer: .init(
            organisation: "K84001", name: "Dr Priya Natarajan", role: "GP", phone: "01865 000111", email: "priya.natarajan@example.nhs.uk",
            organisationName: "Example Road Surgery"),
        subject: .init(
            nhsNumber: "9990000018", givenName: "Margaret", familyName: "Testperson", birthDate: "1941-03-14",
            address: "12 Example Road, Headington, Oxford", postcode: "OX3 9DU", phone: "01865 000222", preferredLanguage: "en",
            interpreterNeeded: false, gender: .female, registeredPractice: "K84001"),
        needs: ["falls-prevention", "reablement"], urgency: .urgent,
        reason: "Two falls at home in the past month; lives alone.", consent: .init(status: .given), safeguarding: false,
        externalReference: "EMIS-REF-0001", respondBy: "2026-12-01T17:00:00Z", expectedDischargeDate: "2026-11-30")

    public static let minimal = Referral(
        referrer: .init(organisation: "RTH", name: "Ward 7 discharge team"),
        subject: .init(givenName: "Alan", familyName: "Testcase", birthDate: "1958-11-02", postcode: "OX4 1AA"),
        needs: ["adult-social-care"], urgency: .routine, reason: "Needs a care assessment before discharge.",
        consent: .init(status: .given))

    /// Names and text with non-ASCII letters, quotes, markup, ampersands, new lines and control
    /// characters, as real referrals carry.
    public static let awkward = Referral(
        referrer: .init(organisation: "8HE41", name: "Siân O'Brien & \"Co\" <duty>", role: "Carers' hub / duty"),
        subject: .init(
            nhsNumber: "9990000026", givenName: "Zoë-Łucja", familyName: "Nguyễn \"Jnr\" <b>O'Neill</b>\\", birthDate: "1994-06-21",
            address: "Flat 3, \"The Maltings\" & Co\n1 Example Street", postcode: "OX1 2JD", preferredLanguage: "pl",
            interpreterNeeded: true),
        needs: ["mental-health-crisis"], urgency: .emergency,
        reason: "Says: \"I can't cope\" — <script>alert(1)</script> & ]]> \\ tab\there; 50% sure; a=b&c=d; emoji 😀\u{1}",
        consent: .init(status: .bestInterests), safeguarding: true, externalReference: "REF/1?x=<y>&z")

    /// Shared without the person's consent because someone is at risk of harm, with the lawful
    /// basis, the decision-maker and the time recorded.
    public static let withoutConsent = Referral(
        referrer: .init(organisation: "E23000029", name: "PC Daniel Okafor", role: "Police officer", organisationType: .policeForce),
        subject: .init(givenName: "Alan", familyName: "Testcase", birthDate: "1958-11-02", postcode: "OX4 1AA"),
        needs: ["safeguarding-adult"], urgency: .emergency, reason: "Signs of financial exploitation by a visitor.",
        consent: .init(
            status: .refused, lawfulBasis: .vitalInterests, decisionMaker: "PC Daniel Okafor, police officer", decidedAt: "2026-11-24T21:40:00Z"),
        safeguarding: true)

    public static let all: [(name: String, referral: Referral)] = [
        ("complete", complete), ("minimal", minimal), ("awkward", awkward), ("withoutConsent", withoutConsent),
    ]
}
