import AdapterKit
import Foundation
import Mustache
import ReferralModel

@testable import TemplateAdapter

/// libFuzzer target: an agency's Mustache template, compiled and rendered with every example
/// referral as the template adapter renders it, and through `CompiledTemplate` where it compiles:
/// the two must give the same text (or the compiled form must defer to the library).
let registered: Bool = {
    TemplateContentType.registerAll()
    return true
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: count), as: UTF8.self)
    // As the adapter compiles it: escaped for JSON, the content type agencies use most.
    guard registered, let template = try? MustacheTemplate(string: "{{% CONTENT_TYPE: \(TemplateContentType.json.pragmaName)}}" + text) else {
        return 0
    }
    let context = DeliveryContext(
        deliveryId: "0196f0c0-0000-7000-8000-00000000000a", referralId: "0196f0c0-0000-7000-8000-00000000000b", agencyId: "fuzz",
        rule: "fuzz", receivedAt: Date(timeIntervalSince1970: 1_795_000_000))
    let compiled = CompiledTemplate(template)
    for (_, referral) in ExampleReferrals.all {
        let library = template.render(TemplateNode.root(referral, context: context, recorder: nil))
        if let compiled, let rendered = compiled.render(referral, context: context), rendered != library {
            fatalError("the compiled template renders \(rendered.debugDescription), the library \(library.debugDescription)")
        }
    }
    return 0
}
