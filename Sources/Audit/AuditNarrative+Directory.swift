import Foundation
import ReferralModel

extension AuditNarrative {
    /// A postcode directory went live. Counts and the file's name only: the postcodes are not
    /// personal data, but a list of them is no use in the audit trail.
    public static func directoryImported(
        at: Date, actor: String, source: String, postcodes: Int, localAuthorities: Int, replacing previous: String?
    ) -> AuditEntry {
        AuditEntry(
            at: Timestamp.string(at), kind: .directoryImported, actor: actor,
            detail: "postcode directory \(source): \(postcodes) postcodes in \(localAuthorities) local authorities"
                + (previous.map { ", replacing \($0)" } ?? ", the first imported"))
    }
}
