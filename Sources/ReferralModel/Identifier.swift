import Foundation
import Synchronization

/// Identifiers for referrals and deliveries: UUID version 7, so they sort by creation time and keep
/// database indexes compact.
public enum Identifier {
    /// Where a simulation's identifiers come from: a seeded sequence, so the same run makes the
    /// same ids (and everything ordered by them happens in the same order). Nil everywhere else:
    /// the system's generator.
    @TaskLocal public static var seeded: SeededIdentifiers?

    public static func make(now: Date = Date()) -> String {
        var bytes = [UInt8](repeating: 0, count: 16)
        let milliseconds = UInt64(max(0, now.timeIntervalSince1970 * 1000))
        for index in 0..<6 { bytes[index] = UInt8(truncatingIfNeeded: milliseconds >> (8 * (5 - index))) }
        let high: UInt64
        let low: UInt64
        if let seeded {
            (high, low) = (seeded.next(), seeded.next())
        } else {
            // Two draws from the system generator rather than ten: each draw can be a system call.
            var generator = SystemRandomNumberGenerator()
            (high, low) = (generator.next(), generator.next())
        }
        for index in 6..<14 { bytes[index] = UInt8(truncatingIfNeeded: high >> (8 * (index - 6))) }
        for index in 14..<16 { bytes[index] = UInt8(truncatingIfNeeded: low >> (8 * (index - 14))) }
        bytes[6] = (bytes[6] & 0x0F) | 0x70
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        let hex = Hex.encode(bytes).utf8
        return String(unsafeUninitializedCapacity: 36) { characters in
            var offset = 0
            for (index, character) in hex.enumerated() {
                if index == 8 || index == 12 || index == 16 || index == 20 {
                    characters[offset] = UInt8(ascii: "-")
                    offset += 1
                }
                characters[offset] = character
                offset += 1
            }
            return offset
        }
    }

    /// The smallest identifier made at `date` or later: a lower bound for the ids of a period, which
    /// an index on ids reads as a range.
    public static func earliest(at date: Date) -> String {
        let milliseconds = UInt64(max(0, date.timeIntervalSince1970 * 1000))
        let hex = Hex.encode((0..<6).map { UInt8(truncatingIfNeeded: milliseconds >> (8 * (5 - $0))) })
        return String(hex.prefix(8)) + "-" + String(hex.dropFirst(8)) + "-0000-0000-000000000000"
    }

    /// Whether `text` is shaped like an identifier this gateway issues.
    public static func isWellFormed(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 36 else { return false }
        for (offset, byte) in bytes.enumerated() {
            if [8, 13, 18, 23].contains(offset) {
                if byte != UInt8(ascii: "-") { return false }
            } else if !((byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66)) {
                return false
            }
        }
        return true
    }
}

/// Timestamps as the API and the audit log write them: RFC 3339 in UTC with milliseconds.
public enum Timestamp {
    /// An RFC 3339 time, with or without fractions of a second.
    public static func parse(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }

    /// A time to the minute, UTC: `2026-12-06T06:40Z`.
    public static func minute(_ date: Date) -> String { String(string(date).prefix(16)) + "Z" }

    public static func string(_ date: Date) -> String {
        let totalMilliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var seconds = time_t(totalMilliseconds / 1000)
        let milliseconds = Int(totalMilliseconds % 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var characters: [UInt8] = []
        characters.reserveCapacity(24)
        func append(_ value: Int, digits: Int) {
            var divisor = 1
            for _ in 1..<digits { divisor *= 10 }
            var remaining = value
            while divisor > 0 {
                characters.append(UInt8(ascii: "0") + UInt8(remaining / divisor % 10))
                remaining %= divisor
                divisor /= 10
            }
        }
        append(Int(parts.tm_year) + 1900, digits: 4)
        characters.append(UInt8(ascii: "-"))
        append(Int(parts.tm_mon) + 1, digits: 2)
        characters.append(UInt8(ascii: "-"))
        append(Int(parts.tm_mday), digits: 2)
        characters.append(UInt8(ascii: "T"))
        append(Int(parts.tm_hour), digits: 2)
        characters.append(UInt8(ascii: ":"))
        append(Int(parts.tm_min), digits: 2)
        characters.append(UInt8(ascii: ":"))
        append(Int(parts.tm_sec), digits: 2)
        characters.append(UInt8(ascii: "."))
        append(milliseconds, digits: 3)
        characters.append(UInt8(ascii: "Z"))
        return String(decoding: characters, as: UTF8.self)
    }
}

/// SplitMix64: small, fast and fixed by its seed, so a simulation's scenario and seed replay
/// exactly. The one generator behind seeded identifiers and a simulation's own draws.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    public init(state: UInt64) { self.state = state }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.mix(state)
    }

    /// The generator's output function: scrambles a 64-bit value.
    public static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A seeded sequence of random bits for identifiers (SplitMix64), for a simulation's replays.
public final class SeededIdentifiers: Sendable {
    private let generator: Mutex<SplitMix64>

    public init(seed: UInt64) { generator = Mutex(SplitMix64(state: seed)) }

    /// Uniform in [0, 1): a simulation's draws elsewhere (retry jitter) from the same seed.
    public func unit() -> Double { Double(next() >> 11) / Double(UInt64(1) << 53) }

    func next() -> UInt64 { generator.withLock { $0.next() } }
}
