import Audit
import Foundation
import ReferralModel
import Settings
import Storage

/// The audit log as a transparency log (RFC 6962 / RFC 9162 Merkle tree, C2SP signed-note
/// checkpoints): the tree is integrated from the events as they are anchored, and anyone can be
/// given a signed checkpoint, proof that a referral's events are in it, and proof that a later
/// log extends one they kept. What the API, the command line and the anchor share.
public struct TransparencyLog: Sendable {
    let store: any SwitchboardStore
    let signer: NoteSigner
    let clock: any WallClock

    public init(store: any SwitchboardStore, signer: NoteSigner, clock: any WallClock = SystemClock()) {
        self.store = store
        self.signer = signer
        self.clock = clock
    }

    /// The key others check its checkpoints with.
    public var verifierKey: String { signer.verifierKey }

    public enum Refusal: Error, Equatable, Sendable {
        /// No such referral, or not one the caller may see.
        case noSuchReferral
        /// A tree size larger than the log has integrated.
        case beyondLog(asked: Int64, size: Int64)
        /// An older size larger than the newer.
        case backwards(old: Int64, new: Int64)
    }

    /// Adds the events not yet in the tree, from the stored tree's edge (or from the first event
    /// when the stored nodes do not make one), and stores the nodes they complete, a page at a
    /// time. Stops at a gap in the sequence: the chain check reports that.
    /// - Returns: the tree's size, and the hash of its last event.
    @discardableResult
    public func integrate(pageSize: Int = 5_000) async throws -> (size: Int64, head: String?) {
        let stored = try await store.auditTreeSize()
        let peaks = Set(MerkleTree.pieces(of: 0..<stored))
        var edge = MerkleEdge(size: stored, nodes: try await store.auditTreeNodes(peaks)) ?? MerkleEdge()
        var head: String? = nil
        while true {
            let page = try await store.auditEvents(afterSequence: edge.size, limit: pageSize)
            var nodes: [(node: MerkleNode, hash: [UInt8])] = []
            for event in page {
                guard event.sequence == edge.size + 1 else { break }
                nodes += edge.append(leaf: MerkleTree.leafHash(of: event))
                head = event.hash
            }
            try await store.addAuditTreeNodes(nodes)
            guard page.count == pageSize, nodes.count > 0 else { break }
        }
        if head == nil, edge.size > 0 { head = try await store.auditEvents(afterSequence: edge.size - 1, limit: 1).first?.hash }
        return (edge.size, head)
    }

    /// The root of the first `size` events, from the stored nodes; nil beyond the integrated tree.
    public func root(size: Int64) async throws -> [UInt8]? {
        guard size >= 0 else { return nil }
        let nodes = try await store.auditTreeNodes(Set(MerkleTree.pieces(of: 0..<size)))
        return MerkleTree.hash(of: 0..<size, nodes: nodes)
    }

    /// The signed checkpoint of the integrated tree (or of its first `size` events).
    public func checkpoint(size asked: Int64? = nil) async throws -> (tree: TreeCheckpoint, note: String) {
        let integrated = try await store.auditTreeSize()
        let size = asked ?? integrated
        guard size >= 0, size <= integrated, let root = try await root(size: size) else {
            throw Refusal.beyondLog(asked: size, size: integrated)
        }
        return (TreeCheckpoint(origin: signer.name, size: size, root: root), try signer.checkpoint(size: size, root: root))
    }

    /// Who asks for a referral's proofs: administrators and information governance may for any;
    /// an agency for a referral sent to it; a referrer for one it sent.
    public struct Reader: Sendable {
        public var keyId: String
        public var role: Role
        public var agency: AgencyID?
        public var organisations: Set<String>?

        public init(keyId: String, role: Role, agency: AgencyID? = nil, organisations: Set<String>? = nil) {
            self.keyId = keyId
            self.role = role
            self.agency = agency
            self.organisations = organisations
        }
    }

    /// Inclusion proofs of a referral's events in the tree of `size` events (the integrated tree
    /// when nil). Each leaf is recomputed from the event's content, so an event edited in the
    /// database no longer proves. The read is audited.
    public func prove(referral id: ReferralID, size asked: Int64? = nil, reader: Reader) async throws -> InclusionProofs {
        guard Identifier.isWellFormed(id), let report = try await store.report(referralId: id), try await may(reader, read: report) else {
            throw Refusal.noSuchReferral
        }
        let (tree, note) = try await checkpoint(size: asked)
        let events = try await store.auditEvents(referralId: id)
        let included = events.filter { $0.sequence <= tree.size }
        let ranges = included.map { MerkleTree.inclusionRanges(index: $0.sequence - 1, size: tree.size) }
        let nodes = try await store.auditTreeNodes(Set(ranges.flatMap { $0.flatMap(MerkleTree.pieces(of:)) }))
        let proven = zip(included, ranges).map { event, ranges in
            InclusionProofs.Event(
                leafIndex: event.sequence - 1, event: event, leafHash: Data(MerkleTree.leafHash(of: event)).base64EncodedString(),
                inclusionProof: ranges.map { Data(MerkleTree.hash(of: $0, nodes: nodes) ?? []).base64EncodedString() })
        }
        try await store.appendAudit([
            AuditNarrative.referralViewed(referralId: id, at: clock.now(), actor: reader.keyId, as: "the proof of its audit events")
        ])
        return InclusionProofs(
            referralId: id, treeSize: tree.size, rootHash: Data(tree.root).base64EncodedString(), checkpoint: note, events: proven,
            laterEvents: events.count - included.count)
    }

    /// The consistency proof from the tree of `old` events to the tree of `new` (the integrated
    /// tree when nil).
    public func consistency(old: Int64, new asked: Int64? = nil) async throws -> ConsistencyProof {
        let (tree, note) = try await checkpoint(size: asked)
        guard old >= 0, old <= tree.size else {
            throw old < 0 ? Refusal.backwards(old: old, new: tree.size) : Refusal.beyondLog(asked: old, size: tree.size)
        }
        let ranges = MerkleTree.consistencyRanges(old: old, new: tree.size)
        let nodes = try await store.auditTreeNodes(Set(ranges.flatMap(MerkleTree.pieces(of:)) + MerkleTree.pieces(of: 0..<old)))
        return ConsistencyProof(
            oldSize: old, newSize: tree.size, oldRootHash: Data(MerkleTree.hash(of: 0..<old, nodes: nodes) ?? []).base64EncodedString(),
            newRootHash: Data(tree.root).base64EncodedString(), checkpoint: note,
            proof: ranges.map { Data(MerkleTree.hash(of: $0, nodes: nodes) ?? []).base64EncodedString() })
    }

    private func may(_ reader: Reader, read report: ReferralReport) async throws -> Bool {
        switch reader.role {
        case .admin, .governance: return true
        case .operations: return false
        case .agency: return reader.agency.map { agency in report.deliveries.contains { $0.agency == agency } } ?? false
        case .referrer:
            if report.submittedBy == reader.keyId { return true }
            guard let organisations = reader.organisations, let referral = try await store.loopReferral(report.id)?.referral else { return false }
            return organisations.contains(referral.referrer.organisation)
        }
    }
}
