import Foundation
import ReferralModel

/// libFuzzer target: the referral decoder (parse and every validation rule) at a fixed moment.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let decoder = ReferralDecoder()
    _ = try? decoder.decode(UnsafeBufferPointer(start: data, count: count), at: Date(timeIntervalSince1970: 1_795_000_000))
    return 0
}
