import Audit
import Foundation
import ReferralModel

/// Referrals as intake stores them and reports read them back. Each method is one transaction.
public protocol ReferralStore: Sendable {
    /// Stores a referral with its jobs, its attention item (when routing needs a person at once)
    /// and audit events, atomically, honouring idempotency.
    func accept(_ record: IntakeRecord) async throws -> IntakeOutcome

    /// The referral's deliveries and history, or nil when there is no such referral.
    func report(referralId: ReferralID) async throws -> ReferralReport?

    /// The referral a key's idempotency key was first used for, or nil when it was never used:
    /// how a later message about the same request (a FHIR update or cancel) finds its referral.
    func referralId(actor: String, idempotencyKey: String) async throws -> ReferralID?

    /// The message a referral was mapped from (a BaRS Bundle), as it arrived; nil when it came as
    /// referral JSON, or once its personal data was pruned.
    func originalMessage(referralId: ReferralID) async throws -> OriginalMessage?
}

/// The delivery queue: jobs are leased, not taken, so a worker that dies leaves a lease that
/// expires and the job runs again. Each agency is a lane: leases ask per agency, through an index
/// on (agency, due time), so one agency's backlog never slows another's.
public protocol DeliveryQueue: Sendable {
    /// Leases, for each lane, up to its limit of that agency's due jobs, oldest due first. A job
    /// leased already is not leased again until its lease expires (its worker died or hung). The
    /// attempt number a lease carries counts this attempt; it is stored when the attempt is finished.
    func leaseDueDeliveries(now: Date, lanes: [LaneDemand]) async throws -> [LeasedDelivery]

    /// Records attempts' results and their audit events, all in one transaction, each only if its
    /// lease still holds the job.
    /// - Returns: for each completion in order, false when its lease was lost (nothing written for it).
    func finish(_ completions: [DeliveryCompletion]) async throws -> [Bool]

    /// When the earliest pending job for any of `agencies` is due and not leased (or its lease
    /// expires), or nil when none is pending.
    func nextDueDate(agencies: [AgencyID]) async throws -> Date?

    /// Every agency's stored lane state (paused, disabled, circuit); agencies never changed have none.
    func laneStates() async throws -> [AgencyLaneState]

    /// Stores one agency's lane state with the audit events that record the change.
    func saveLaneState(_ state: AgencyLaneState, audit: [AuditEntry]) async throws

    /// Each agency's queue, for every agency with pending or dead-lettered jobs.
    func queueCounts(now: Date) async throws -> [LaneCounts]

    /// How many referrals each agency was sent (deliveries made, not notices) since `since`: its
    /// day's work, set against the capacity it declared. Read through the ids, which sort by time.
    func referralsRouted(since: Date) async throws -> [AgencyID: Int]

    /// Dead-lettered deliveries, newest first, optionally for one agency.
    func deadLetters(agency: AgencyID?, limit: Int) async throws -> [DeadLetter]

    /// Puts dead-lettered deliveries back in the queue, due at `now` with their attempts reset,
    /// each with the audit event `audit` words for it. A delivery not dead-lettered is left alone,
    /// so replaying twice sends once.
    /// - Returns: the deliveries requeued.
    func requeue(_ selection: DeadLetterSelection, now: Date, audit: @escaping @Sendable (DeadLetter) -> AuditEntry) async throws
        -> [DeadLetter]
}

extension DeliveryQueue {
    /// Records one attempt's result.
    /// - Returns: false when the lease was lost, in which case nothing is written.
    @discardableResult
    public func finish(_ lease: LeasedDelivery, result: AttemptResult, audit: [AuditEntry], now: Date) async throws -> Bool {
        try await finish([DeliveryCompletion(lease: lease, result: result, audit: audit, at: now)]).first ?? false
    }
}

/// The append-only, hash-chained audit log.
public protocol AuditLog: Sendable {
    /// Appends events that belong to no other write (an authentication failure, a start-up).
    func appendAudit(_ entries: [AuditEntry]) async throws

    /// Audit events in sequence order, `limit` at a time from `afterSequence`.
    func auditEvents(afterSequence: Int64, limit: Int) async throws -> [AuditEvent]

    /// The newest event's sequence and hash: the chain's head, for anchoring it outside the store.
    func auditHead() async throws -> (sequence: Int64, hash: String)?

    /// Events of `kinds` counted by UTC hour, from the hour that holds `since`: what the console's
    /// activity chart draws, from the store's own record (counted as events are appended, in the
    /// same transaction), so it survives restarts, agrees across gateways, and costs the same
    /// however long the trail grows.
    func auditActivity(since: Date, kinds: Set<AuditKind>) async throws -> [AuditHourCount]
}

/// The versions of the governed configuration documents (the routing rules, the agencies) as
/// they went live, each document numbered on its own.
public protocol RulesVersionStore: Sendable {
    /// Stores a version of `document` with its audit events, if its newest stored version is still
    /// `expectedLatest` (nil: none stored yet).
    /// - Returns: false when another version was stored first, in which case nothing is written.
    func recordVersion(_ record: RulesVersionRecord, of document: GovernedDocument, expectedLatest: Int?, audit: [AuditEntry]) async throws
        -> Bool

    /// The newest stored version of `document`, with its text.
    func latestVersion(of document: GovernedDocument) async throws -> RulesVersionRecord?

    /// Stored versions of `document`, newest first, without their texts.
    func versionHistory(of document: GovernedDocument, limit: Int) async throws -> [RulesVersionRecord]

    /// One stored version of `document`, with its text.
    func version(_ number: Int, of document: GovernedDocument) async throws -> RulesVersionRecord?
}

extension RulesVersionStore {
    public func recordRules(_ record: RulesVersionRecord, expectedLatest: Int?, audit: [AuditEntry]) async throws -> Bool {
        try await recordVersion(record, of: .rules, expectedLatest: expectedLatest, audit: audit)
    }

    public func latestRules() async throws -> RulesVersionRecord? { try await latestVersion(of: .rules) }

    public func rulesHistory(limit: Int) async throws -> [RulesVersionRecord] { try await versionHistory(of: .rules, limit: limit) }

    public func rules(number: Int) async throws -> RulesVersionRecord? { try await version(number, of: .rules) }
}

/// Changes proposed to a governed document where a second administrator must approve them.
public protocol ProposalStore: Sendable {
    /// Stores a new pending proposal with its audit events.
    func saveProposal(_ proposal: ChangeProposal, audit: [AuditEntry]) async throws
    /// One proposal, with its text.
    func proposal(id: String) async throws -> ChangeProposal?
    /// The proposals to `document`, newest first, without their texts.
    func proposals(of document: GovernedDocument, limit: Int) async throws -> [ChangeProposal]
    /// Records the decision on a pending proposal with its audit events.
    /// - Returns: false when it was no longer pending, in which case nothing is written.
    func decideProposal(_ id: String, decision: ChangeProposal.Decision, audit: [AuditEntry]) async throws -> Bool
}

/// The postcode directory (the ONS Postcode Directory's postcodes and the local authorities they
/// lie in), imported by an administrator so rules and coverage can name local authorities.
/// An import is staged: its postcodes are added in batches, invisible to lookups, and go live
/// together when it is finished, with its audit event, replacing the previous import whole.
public protocol PostcodeDirectoryStore: Sendable {
    /// Starts an import and returns its number, under which its postcodes are added.
    func beginPostcodeImport() async throws -> Int
    /// Adds a batch of postcodes to an unfinished import.
    func addPostcodes(_ places: [PostcodePlace], toImport number: Int) async throws
    /// Makes an import the live directory, with its audit events, and drops every other.
    func finishPostcodeImport(_ number: Int, info: PostcodeDirectoryInfo, audit: [AuditEntry]) async throws
    /// The GSS codes of the local authorities the live directory places a normalised postcode
    /// (`OX1 2JD`) in; empty when it has no entry for it, or no directory was imported.
    func localAuthorities(of postcode: String) async throws -> Set<String>
    /// What the live directory was imported from, or nil when none was.
    func postcodeDirectory() async throws -> PostcodeDirectoryInfo?
}

/// What happens to a referral after intake: agencies answer, declines and missed deadlines move it
/// on, people resolve what needs attention. Every change is one transaction with its audit events.
public protocol ReferralLoopStore: Sendable {
    /// The referral with its deliveries and open attention item, or nil when there is none.
    func loopReferral(_ id: ReferralID) async throws -> LoopReferral?
    /// The referrals received from `from` up to `to`, as routing saw them, in order of id (which is
    /// time), `limit` at a time after `after`: what a proposed change of rules or agencies is
    /// replayed over. One whose personal data was pruned or erased is left out.
    func referralsReceived(from: Date, to: Date, after: ReferralID?, limit: Int) async throws -> [ReceivedReferral]
    /// Writes one step of the loop.
    /// - Returns: false when its transition's delivery was not in an allowed state (someone else
    ///   moved it first); nothing is written then.
    func applyLoopChange(_ change: LoopChange) async throws -> Bool
    /// The deliveries to `agency`, newest first, optionally only in `states`, `limit` at a time
    /// after (older than) the delivery id `before`.
    func worklist(agency: AgencyID, states: Set<DeliveryState>?, limit: Int, before: DeliveryID?) async throws -> [WorkItem]
    /// Open attention items: emergencies first, then urgent, then routine; within each, the
    /// soonest due first (items from before due times were kept last), then the oldest.
    func attention(limit: Int) async throws -> [AttentionItem]
    /// Open attention items by urgency, with how many are past their due time at `now`.
    func attentionSummary(now: Date) async throws -> [AttentionSummary]
    /// Deliveries of emergency and urgent referrals still waiting (pending, not escalated) for one
    /// of `agencies`, whose lanes are stopped: they move on rather than wait.
    func waitingUrgentDeliveries(agencies: [AgencyID], limit: Int) async throws -> [DueEscalation]
    /// Deliveries that must escalate at `now`: pending or delivered past their deadline, or
    /// dead-lettered, and not escalated yet; oldest deadline first.
    func dueEscalations(now: Date, limit: Int) async throws -> [DueEscalation]
    /// The notes written about a referral, oldest first.
    func notes(referralId: ReferralID) async throws -> [ReferralNote]
}

/// Retention: the personal data of closed referrals is removed once it is old enough.
public protocol RetentionStore: Sendable {
    /// Removes the personal data (the referral as sent, its key, notes, the message it came as,
    /// agencies' replies, blind indexes) of every referral received before `policy.receivedBefore`
    /// that nobody is acting on: every delivery completed, declined or withdrawn (or it was held), a
    /// dead letter only once a person resolved its attention item, an acceptance only once older
    /// than `policy.acceptedBefore` (when given), and nothing needing attention. Its id, deliveries
    /// and audit events stay, so the chain still verifies. The audit entry is made from the count
    /// and written with it.
    /// - Returns: how many referrals were pruned.
    func pruneClosedReferrals(_ policy: RetentionPolicy, at: Date, audit: @escaping @Sendable (Int) -> AuditEntry) async throws -> Int

    /// Claims the scheduled retention run of `day` (`YYYY-MM-DD`) for `gateway`: true for exactly
    /// one claimant, however many gateways share the store.
    func claimRetentionRun(day: String, gateway: String, at: Date) async throws -> Bool

    /// Records that the claimed run of `day` finished, and what it removed.
    func finishRetentionRun(day: String, at: Date, pruned: Int) async throws

    /// The newest scheduled run, finished or not.
    func lastRetentionRun() async throws -> RetentionRun?
}

/// Which closed referrals lose their personal data.
public struct RetentionPolicy: Sendable, Equatable {
    public var receivedBefore: Date
    /// An acceptance never completed counts as closed when answered before this; nil: never.
    public var acceptedBefore: Date?

    public init(receivedBefore: Date, acceptedBefore: Date? = nil) {
        self.receivedBefore = receivedBefore
        self.acceptedBefore = acceptedBefore
    }
}

/// One day's scheduled retention run.
public struct RetentionRun: Sendable, Equatable {
    public var day: String
    public var gateway: String
    public var startedAt: Date
    public var finishedAt: Date?
    public var pruned: Int?

    public init(day: String, gateway: String, startedAt: Date, finishedAt: Date?, pruned: Int?) {
        self.day = day
        self.gateway = gateway
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.pruned = pruned
    }
}

extension RetentionStore {
    /// The closed referrals received before `receivedBefore`, acceptances never counted closed.
    public func pruneClosedReferrals(receivedBefore: Date, at: Date, audit: @escaping @Sendable (Int) -> AuditEntry) async throws -> Int {
        try await pruneClosedReferrals(RetentionPolicy(receivedBefore: receivedBefore), at: at, audit: audit)
    }
}

/// The `webhook-id`s of signed requests, so a replayed request is refused on every gateway.
public protocol WebhookReceiptStore: Sendable {
    /// Records that `keyId` sent `webhookId` at `at`, forgetting what was received before
    /// `forgetBefore`; false when the id was already recorded since then: a replay.
    func recordWebhook(keyId: String, webhookId: String, at: Date, forgetBefore: Date) async throws -> Bool
}

/// A store that does every job: what a gateway runs on. SQLite, PostgreSQL and the in-memory twin
/// are each one, and the shared store contract tests hold them to the same behaviour.
public typealias SwitchboardStore = ReferralStore & DeliveryQueue & AuditLog & RulesVersionStore & PostcodeDirectoryStore & ProposalStore
    & ReferralLoopStore & RetentionStore & StoreHealth & KeyStore & WebhookReceiptStore & SessionStore & PersonalRecordStore
    & AuditTreeStore

/// A person's referrals, found by blind index (no plaintext is searched), for subject access.
public protocol PersonalRecordStore: Sendable {
    /// The referrals about the person `search` describes, oldest first; referrals whose personal
    /// data was removed are not found.
    func referralIds(about search: PersonSearch) async throws -> [ReferralID]

    /// The audit events about one referral, in order: who did what to it.
    func auditEvents(referralId: ReferralID) async throws -> [AuditEvent]

    /// Erases a referral's personal data, in one transaction with its audit events: its key (so
    /// any copy of what it sealed can no longer be opened), the referral as sent, its notes, the
    /// message it came as, agencies' replies and its blind indexes. Deliveries not yet made are
    /// withdrawn and its open attention items resolved; ids, deliveries and the audit trail stay.
    /// Returns the deliveries withdrawn, or nil when there is no such referral or its personal data
    /// is already gone.
    func eraseReferral(_ id: ReferralID, at: Date, audit: @escaping @Sendable ([DeliveryID]) -> [AuditEntry]) async throws -> [DeliveryID]?
}

/// Whether the store can take writes now: what `/readyz` asks before a load balancer sends work.
public protocol StoreHealth: Sendable {
    /// Makes a small write through the same path as every other; throws what that write threw.
    func checkWritable() async throws
}

extension AuditLog {
    /// Checks the whole audit chain, reading it a page at a time, in constant memory.
    /// Checks the whole chain, then the chain against the checkpoints anchored outside the store.
    /// Events not yet in any checkpoint are expected for `file.allowedLag` after they were written;
    /// older ones mean the file was cut short, emptied or deleted, or no gateway anchors the log.
    public func verifyAudit(against file: CheckpointFile, now: Date = Date()) async throws -> AuditChain.Verdict {
        let (checkpoints, problems) = try file.read()
        let verdict = try await AuditChain.verify(try await verifyAudit(), against: checkpoints, problems: problems) { sequence in
            try await auditEvents(afterSequence: sequence - 1, limit: 1).first { $0.sequence == sequence }?.hash
        }
        if case .intact = verdict, let broken = try await verifyTrees(CheckpointFile.trees(checkpoints, verifier: file.verifier)) {
            return broken
        }
        let anchored = checkpoints.last?.sequence ?? 0
        guard case .intact(let events, _) = verdict, events > anchored,
            let first = try await auditEvents(afterSequence: anchored, limit: 1).first, let written = Timestamp.parse(first.at),
            now.timeIntervalSince(written) > file.allowedLag
        else { return verdict }
        let since = "though the first was written at \(first.at), longer ago than checkpoints are written"
        return .broken(
            sequence: anchored + 1,
            reason: checkpoints.isEmpty
                ? "events 1 to \(events) are in no checkpoint: the checkpoint file \(file.path) is missing or empty, \(since); it was deleted or emptied, or no gateway has anchored the log"
                : "events \(anchored + 1) to \(events) are in no checkpoint, \(since): the checkpoint file was cut short, or no gateway has anchored the log since"
        )
    }

    /// Checks each signed tree checkpoint against the tree rebuilt from the events: the first
    /// whose root differs names a log that was rewritten since it was signed.
    public func verifyTrees(_ trees: [(checkpoint: AuditCheckpoint, tree: TreeCheckpoint)]) async throws -> AuditChain.Verdict? {
        guard !trees.isEmpty else { return nil }
        let roots = try await auditRoots(at: Set(trees.map(\.tree.size)))
        for (checkpoint, tree) in trees where roots[tree.size] != tree.root {
            return .broken(
                sequence: tree.size,
                reason:
                    "the events up to \(tree.size) are not the ones the signed checkpoint of \(checkpoint.at) records (its Merkle root differs): an event was edited, removed or rehashed"
            )
        }
        return nil
    }

    public func verifyAudit(pageSize: Int = 5_000) async throws -> AuditChain.Verdict {
        var verifier = AuditChain.Verifier()
        var after: Int64 = 0
        while true {
            let page = try await auditEvents(afterSequence: after, limit: pageSize)
            for event in page {
                if let broken = verifier.check(event) { return broken }
            }
            guard let last = page.last, page.count == pageSize else { return verifier.verdict }
            after = last.sequence
        }
    }
}

/// What chaining audit events has cost a store several gateways share (one gateway at a time
/// chains the events all of them wrote): totals since the store was opened, for `/metrics`.
public struct AuditChainLockFigures: Sendable, Equatable {
    /// Turns in which this gateway chained events.
    public var appends: Int = 0
    /// Time spent waiting for the chain's lock, in all.
    public var waitedSeconds: Double = 0
    /// Time the lock was held (reading the head, chaining, committing), in all.
    public var heldSeconds: Double = 0

    public init(appends: Int = 0, waitedSeconds: Double = 0, heldSeconds: Double = 0) {
        self.appends = appends
        self.waitedSeconds = waitedSeconds
        self.heldSeconds = heldSeconds
    }
}

/// Audit events written but not yet chained: how many, and how long the oldest has waited.
public struct AuditBacklog: Sendable, Equatable {
    public var events: Int
    public var oldestSeconds: Double

    public init(events: Int, oldestSeconds: Double) {
        self.events = events
        self.oldestSeconds = oldestSeconds
    }
}

/// A store whose audit chain several gateways write to, chained by one at a time.
public protocol SharedAuditChain: Sendable {
    var auditChainLock: AuditChainLockFigures { get }
    /// The events written and not yet chained.
    func auditBacklog() async throws -> AuditBacklog
}
