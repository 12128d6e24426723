import ReferralModel

/// What an agency receives: the minimum necessary for its service, by allow-list. `receives` in
/// agencies.yaml names a preset or lists fields; the fields every delivery needs are always sent.
public enum FieldAllowList {
    /// The named presets and the fields each lets through, beside the essential ones.
    public static let presets: [String: Set<ReferralField>] = [
        // Who the person is and how to reach them: enough to make contact, nothing of their health.
        "contact-only": [
            .referrerName, .referrerRole, .referrerPhone, .referrerEmail, .referrerOrganisationName, .address, .subjectPhone, .preferredLanguage,
            .interpreterNeeded, .respondBy,
        ],
        // Contact, and the referrer's account of what is wrong: for social care and the voluntary sector.
        "care": [
            .referrerName, .referrerRole, .referrerPhone, .referrerEmail, .referrerOrganisationName, .address, .subjectPhone,
            .preferredLanguage, .interpreterNeeded, .gender, .registeredPractice, .reason, .respondBy, .expectedDischargeDate,
        ],
        // Everything a health or safeguarding service acts on, the NHS number and safeguarding flag included.
        "clinical": Set(ReferralField.allCases),
        // Every field the referral has.
        "full": Set(ReferralField.allCases),
    ]

    /// The preset names, in the order documentation lists them.
    public static let presetNames = ["contact-only", "care", "clinical", "full"]
}
