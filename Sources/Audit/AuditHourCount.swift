import Foundation

/// How many audit events of one kind fall in one UTC hour.
public struct AuditHourCount: Sendable, Equatable {
    /// The hour as the audit timestamps begin: `2026-11-26T03`.
    public var hour: String
    public var kind: String
    public var count: Int

    public init(hour: String, kind: String, count: Int) {
        self.hour = hour
        self.kind = kind
        self.count = count
    }
}
