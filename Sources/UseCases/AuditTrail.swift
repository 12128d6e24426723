import Audit
import Foundation
import Storage

/// The audit trail as administrators read it, by CLI, API or console alike: checked whole (and
/// against the signed checkpoints, where a deployment keeps them), counted by hour, exported.
public struct AuditTrail: Sendable {
    /// What a check found, and whether it was held to checkpoints kept outside the store.
    public struct Verification: Sendable, Equatable {
        public var verdict: AuditChain.Verdict
        public var anchored: Bool
    }

    let store: any AuditLog
    /// The checkpoint file the gateway anchors the chain in, with its key; nil when none is kept.
    let checkpoints: CheckpointFile?

    public init(store: any AuditLog, checkpoints: CheckpointFile?) {
        self.store = store
        self.checkpoints = checkpoints
    }

    /// Records events that belong to no other change: refused keys, a start-up.
    public func record(_ entries: [AuditEntry]) async throws {
        try await store.appendAudit(entries)
    }

    /// Checks the whole chain a page at a time, then against the checkpoints when there are any.
    public func verify() async throws -> Verification {
        if let checkpoints { return Verification(verdict: try await store.verifyAudit(against: checkpoints), anchored: true) }
        return Verification(verdict: try await store.verifyAudit(), anchored: false)
    }

    /// Events of `kinds` counted by UTC hour from the hour that holds `since`.
    public func activity(since: Date, kinds: Set<AuditKind>) async throws -> [AuditHourCount] {
        try await store.auditActivity(since: since, kinds: Set(kinds))
    }

    /// Writes the events from `since` (inclusive) to `until` (exclusive) through `write`; how many.
    @discardableResult
    public func export(since: String?, until: String?, format: AuditExport.Format, write: (String) throws -> Void) async throws -> Int {
        try await AuditExport.export(from: store, since: since, until: until, format: format, write: write)
    }
}
