import ReferralModel

/// libFuzzer target: the strict JSON parser every body goes through. Any input must give a value
/// or a syntax error, never a crash, a hang or a memory error.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    _ = try? JSONParser.parse(UnsafeBufferPointer(start: data, count: count))
    return 0
}
