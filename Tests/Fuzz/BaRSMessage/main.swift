import BaRS
import Foundation
import ReferralModel

/// libFuzzer target: a BaRS message as `$process-message` reads it: the Bundle, its mapping to a
/// referral (every path it names), an agency's answer, and the decoder over the mapped document.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: count))
    guard let message = try? InboundMessage.parse(bytes) else { return 0 }
    let concepts = FHIRConceptMap(
        needs: [.init(system: "http://fhir.nhs.uk/Id/dos-service-id", code: "111111111", need: "mental-health-crisis")],
        urgency: [.init(system: "https://fhir.nhs.uk/CodeSystem/arp-priority-code", code: "C3", urgency: .urgent)])
    let now = Date(timeIntervalSince1970: 1_795_000_000)
    if let mapping = try? ReferralMapping.map(message, concepts: concepts, vocabulary: .standard, now: now) {
        _ = mapping.expression(for: "/subject/nhsNumber", fallback: "")
        _ = try? ReferralDecoder().decode(mapping.document, today: "2026-11-18", now: now)
    }
    _ = try? AgencyAnswer.read(message)
    _ = OperationOutcome.codes(in: bytes)
    return 0
}
