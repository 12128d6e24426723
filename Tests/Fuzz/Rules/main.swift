import Foundation
import ReferralModel
import Routing
import Settings

/// The example agencies, read once: rules name them.
let agencies: AgencyDirectory = {
    let text = (try? String(contentsOfFile: "config/agencies.yaml", encoding: .utf8)) ?? "agencies: []"
    return (try? AgencyDirectory.parse(text, file: "agencies.yaml", adapters: ["json-webhook", "fhir-r4", "bars", "template", "portal"]))
        ?? (try! AgencyDirectory.parse("agencies: []", file: "agencies.yaml", adapters: []))
}()

/// libFuzzer target: the rules file parser and validator (YAML, the rule language, its patterns),
/// and a routing of the example referral by whatever parses. Run from the repository's root.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: count), as: UTF8.self)
    if let rules = try? RuleSet.parse(text, file: "rules.yaml", agencies: agencies, vocabulary: .standard) {
        _ = rules.route(ExampleReferrals.complete, at: Date(timeIntervalSince1970: 1_795_000_000))
    }
    return 0
}
