import Foundation
import ReferralModel
import Yams

extension SectionReader {
    /// `needs`: each a code, or `{code: …, consent_required: false, snomed: {code: …, display: …}}`:
    /// a need that may be shared without the person's consent (by default only the safeguarding
    /// needs may), and the SNOMED CT concept coded messages send it as.
    func vocabulary(_ node: Node?) -> NeedsVocabulary {
        guard let node else { return .standard }
        guard let items = reader.sequence(node, "needs") else { return .standard }
        var codes: [String] = []
        var exempt: Set<String> = []
        var codings: [String: Coding] = [:]
        for item in items {
            var code: String?
            var consentRequired: Bool?
            var snomed: Coding?
            if case .mapping = item {
                guard let entry = reader.mapping(item, "a need", allowed: ["code", "consent_required", "snomed"], required: ["code"])
                else { continue }
                code = reader.string(entry["code"], "code")
                consentRequired = entry["consent_required"].flatMap { reader.bool($0, "consent_required") }
                snomed = entry["snomed"].flatMap(snomedCoding)
            } else {
                code = reader.string(item, "each entry of needs")
            }
            guard let code else { continue }
            if code.utf8.count > 64 || !isIdentifier(code) {
                reader.fail(item, "need code '\(code)' must be lower-case letters, digits and hyphens", hint: "for example falls-prevention")
            }
            if codes.contains(code) { reader.fail(item, "needs lists '\(code)' twice") }
            codes.append(code)
            if consentRequired == false || (consentRequired == nil && code.hasPrefix("safeguarding")) { exempt.insert(code) }
            if let snomed { codings[code] = snomed }
        }
        if codes.isEmpty { reader.fail(node, "needs must list at least one code") }
        return NeedsVocabulary(codes, consentExempt: exempt, codings: codings)
    }

    /// `snomed: {code: "306238000", display: "Referral to social services"}`: a concept id that
    /// passes SNOMED CT's own checks, with the display the administrator confirmed it by.
    private func snomedCoding(_ node: Node) -> Coding? {
        guard let entry = reader.mapping(node, "snomed", allowed: ["code", "display"], required: ["code", "display"]) else { return nil }
        guard let code = entry["code"].flatMap({ reader.string($0, "snomed code") }),
            let display = entry["display"].flatMap({ reader.string($0, "snomed display") })
        else { return nil }
        if let problem = SNOMED.problem(with: code) {
            reader.fail(
                entry["code"] ?? node, problem,
                hint: "copy the concept id from the NHS terminology browser (termbrowser.nhs.uk), and its preferred term as display")
            return nil
        }
        return .snomed(code, display)
    }
}
