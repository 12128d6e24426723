import Foundation
import ReferralModel

/// Times as the people using the console read them: local to Europe/London, in words, and how long
/// until (or since) something is due.
enum ConsoleTime {
    private static let formatter: DateFormatter = {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_GB")
        formatter.timeZone = TimeZone(identifier: "Europe/London") ?? .gmt
        formatter.dateFormat = "EEE d MMM yyyy, HH:mm"
        return formatter
    }()
    private static let lock = NSLock()

    /// `Sat 6 Dec 2026, 14:05`, in Europe/London, for an RFC 3339 time; the text itself when it is not one.
    static func local(_ text: String) -> String {
        guard let date = Timestamp.parse(text) else { return text }
        return local(date)
    }

    static func local(_ date: Date) -> String {
        lock.lock()
        defer { lock.unlock() }
        return formatter.string(from: date)
    }

    /// `due in 42 min`, `due in 3 h 10 min`, `due in 2 days`, or `overdue by 12 min`; and whether it is overdue.
    static func due(_ deadline: Date, now: Date) -> (words: String, overdue: Bool) {
        let seconds = Int(deadline.timeIntervalSince(now))
        let span = duration(abs(seconds))
        return seconds >= 0 ? ("due in \(span)", false) : ("overdue by \(span)", true)
    }

    static func duration(_ seconds: Int) -> String {
        let minutes = max(1, (seconds + 59) / 60)
        switch minutes {
        case ..<60: return "\(minutes) min"
        case ..<(48 * 60): return minutes % 60 == 0 ? "\(minutes / 60) h" : "\(minutes / 60) h \(minutes % 60) min"
        default: return "\(minutes / (24 * 60)) days"
        }
    }
}
