@testable import Routing

/// libFuzzer target: the linear-time pattern engine of the rule language's `matches`. The input is
/// a pattern, a newline, and a text to match: compiling must succeed or fail with a syntax error,
/// and matching must end, in time linear in the text.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let input = String(decoding: UnsafeBufferPointer(start: data, count: count), as: UTF8.self)
    let parts = input.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
    guard let pattern = try? LinearPattern(String(parts[0])) else { return 0 }
    _ = pattern.matches(parts.count > 1 ? String(parts[1]) : "")
    return 0
}
