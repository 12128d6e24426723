import BaRS
import Foundation
import ReferralModel
import Yams

extension SectionReader {
    /// `fhir_in: {needs: [{system, code, need}], urgency: [{system, code, urgency}], safeguarding:
    /// [{system, code}]}`: how codes in BaRS messages that come in to `$process-message` become
    /// needs, urgencies and safeguarding concerns. Every need named must be in the vocabulary.
    func fhirConcepts(_ node: Node?, vocabulary: NeedsVocabulary) -> FHIRConceptMap {
        guard let node,
            let entries = reader.mapping(node, "fhir_in", allowed: ["needs", "urgency", "safeguarding"], required: [])
        else { return FHIRConceptMap() }
        var map = FHIRConceptMap()
        for item in reader.sequence(entries["needs"], "fhir_in needs") ?? [] {
            guard let (system, code, entry) = coding(item, extra: "need"), let need = reader.string(entry["need"], "need") else { continue }
            guard vocabulary.codes.contains(need) else {
                reader.fail(
                    entry["need"], "'\(need)' is not a need in this configuration", hint: "one of: \(vocabulary.codes.joined(separator: ", "))")
                continue
            }
            if map.needs.contains(where: { $0.system == system && $0.code == code }) {
                reader.fail(item, "fhir_in needs maps \(system)|\(code) twice", hint: "a code asks for one need")
            }
            map.needs.append(.init(system: system, code: code, need: need))
        }
        for item in reader.sequence(entries["urgency"], "fhir_in urgency") ?? [] {
            guard let (system, code, entry) = coding(item, extra: "urgency"), let name = reader.string(entry["urgency"], "urgency") else { continue }
            guard let urgency = Urgency(rawValue: name) else {
                reader.fail(entry["urgency"], "'\(name)' is not an urgency", hint: "emergency, urgent or routine")
                continue
            }
            map.urgency.append(.init(system: system, code: code, urgency: urgency))
        }
        for item in reader.sequence(entries["safeguarding"], "fhir_in safeguarding") ?? [] {
            guard let (system, code, _) = coding(item, extra: nil) else { continue }
            map.safeguarding.append(FHIRCoding(system: system, code: code))
        }
        return map
    }

    /// One `{system, code, …}` entry: the code system must be a URI (a URL or a `urn:`).
    private func coding(_ item: Node, extra: String?) -> (String, String, [String: Node])? {
        let allowed = ["system", "code", "display"] + (extra.map { [$0] } ?? [])
        guard let entry = reader.mapping(item, "a code", allowed: Set(allowed), required: Set(allowed.filter { $0 != "display" })),
            let system = reader.string(entry["system"], "system"), let code = reader.string(entry["code"], "code")
        else { return nil }
        guard system.hasPrefix("http://") || system.hasPrefix("https://") || system.hasPrefix("urn:") else {
            reader.fail(entry["system"], "system '\(system)' is not a code system URI", hint: "for example http://snomed.info/sct")
            return nil
        }
        return (system, code, entry)
    }
}
