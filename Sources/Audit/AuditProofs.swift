import Foundation
import ReferralModel

/// That a referral's audit events are in the log a signed checkpoint commits to: for each event,
/// its place (leaf `sequence - 1`), its content, and the hashes that lead from its leaf to the
/// checkpoint's root (RFC 6962). What `switchboard audit prove` prints and `/v1/audit/proof` answers.
public struct InclusionProofs: Sendable, Codable, Equatable {
    public struct Event: Sendable, Codable, Equatable {
        public var leafIndex: Int64
        /// The event as the log holds it; its hash recomputed from its content is the leaf's input.
        public var event: AuditEvent
        /// SHA-256(0x00 || event hash), base64.
        public var leafHash: String
        /// From the leaf's sibling up to just below the root, base64.
        public var inclusionProof: [String]

        public init(leafIndex: Int64, event: AuditEvent, leafHash: String, inclusionProof: [String]) {
            self.leafIndex = leafIndex
            self.event = event
            self.leafHash = leafHash
            self.inclusionProof = inclusionProof
        }
    }

    public var referralId: ReferralID
    public var treeSize: Int64
    /// The root of the tree of `treeSize` events, base64.
    public var rootHash: String
    /// The signed note (C2SP tlog-checkpoint) of that tree, to check with the log's verifier key.
    public var checkpoint: String
    public var events: [Event]
    /// The referral's events written after `treeSize`: in the log, not yet in this checkpoint.
    public var laterEvents: Int

    public init(referralId: ReferralID, treeSize: Int64, rootHash: String, checkpoint: String, events: [Event], laterEvents: Int) {
        self.referralId = referralId
        self.treeSize = treeSize
        self.rootHash = rootHash
        self.checkpoint = checkpoint
        self.events = events
        self.laterEvents = laterEvents
    }
}

/// That the log of `newSize` events extends the log of `oldSize` a checkpoint was taken of: nothing
/// the older checkpoint covered was removed or changed (RFC 6962 consistency proof).
public struct ConsistencyProof: Sendable, Codable, Equatable {
    public var oldSize: Int64
    public var newSize: Int64
    /// Base64 roots of both trees.
    public var oldRootHash: String
    public var newRootHash: String
    /// The signed note of the newer tree.
    public var checkpoint: String
    /// Base64, as RFC 6962 section 2.1.2 orders them.
    public var proof: [String]

    public init(oldSize: Int64, newSize: Int64, oldRootHash: String, newRootHash: String, checkpoint: String, proof: [String]) {
        self.oldSize = oldSize
        self.newSize = newSize
        self.oldRootHash = oldRootHash
        self.newRootHash = newRootHash
        self.checkpoint = checkpoint
        self.proof = proof
    }
}
