import Foundation
import ReferralModel

extension InMemoryStore {
    /// The in-memory store's delivery jobs, with the ones still moving indexed apart: pending jobs
    /// by agency, jobs waiting on a deadline in order of it, and dead letters not yet escalated.
    /// The dispatcher's lease, the next due date and the deadline watcher read only those, so a
    /// store holding a simulated week's tens of thousands of jobs answers them about as fast as
    /// one holding a test's few.
    struct JobTable {
        private(set) var all: [DeliveryID: Job] = [:]
        private var pendingByAgency: [AgencyID: Set<DeliveryID>] = [:]
        /// Pending, delivered or returned, not escalated, with a deadline: sorted by it, then id.
        private var byDeadline: [(deadline: Date, id: DeliveryID)] = []
        /// Dead-lettered and not escalated.
        private var deadLetters: Set<DeliveryID> = []

        subscript(id: DeliveryID) -> Job? {
            get { all[id] }
            set {
                if let old = all[id] { unindex(old) }
                all[id] = newValue
                if let job = newValue { index(job) }
            }
        }

        private mutating func index(_ job: Job) {
            if job.state == .pending { pendingByAgency[job.agency, default: []].insert(job.deliveryId) }
            if let deadline = Self.awaitedDeadline(job) {
                byDeadline.insert((deadline, job.deliveryId), at: position(deadline, job.deliveryId))
            }
            if job.escalatedAt == nil && job.state == .deadLettered { deadLetters.insert(job.deliveryId) }
        }

        private mutating func unindex(_ job: Job) {
            if job.state == .pending { pendingByAgency[job.agency]?.remove(job.deliveryId) }
            if let deadline = Self.awaitedDeadline(job) {
                let at = position(deadline, job.deliveryId)
                if at < byDeadline.count, byDeadline[at].id == job.deliveryId { byDeadline.remove(at: at) }
            }
            deadLetters.remove(job.deliveryId)
        }

        /// Where (deadline, id) is or would go in `byDeadline`.
        private func position(_ deadline: Date, _ id: DeliveryID) -> Int {
            var low = 0
            var high = byDeadline.count
            while low < high {
                let middle = (low + high) / 2
                if (byDeadline[middle].deadline, byDeadline[middle].id) < (deadline, id) { low = middle + 1 } else { high = middle }
            }
            return low
        }

        private static func awaitedDeadline(_ job: Job) -> Date? {
            guard job.escalatedAt == nil, [.pending, .delivered, .returned].contains(job.state) else { return nil }
            return job.deadlineAt
        }

        /// Every job.
        var values: Dictionary<DeliveryID, Job>.Values { all.values }

        /// The pending jobs of these agencies.
        func pending<Agencies: Sequence>(of agencies: Agencies) -> [Job] where Agencies.Element == AgencyID {
            agencies.flatMap { agency in (pendingByAgency[agency] ?? []).compactMap { all[$0] } }
        }

        /// The jobs due to escalate at `now`: dead letters, then those past their deadline, each in
        /// order of deadline.
        func escalating(now: Date) -> [Job] {
            deadLetters.compactMap { all[$0] } + byDeadline.prefix { $0.deadline <= now }.compactMap { all[$0.id] }
        }

        /// The earliest deadline still awaited.
        var nextDeadline: Date? { byDeadline.first?.deadline }
    }
}

extension InMemoryStore {
    /// The attention list in the order items were opened, with the open items indexed by referral:
    /// reading a referral's open item (every read of a referral in the closed loop does) does not
    /// walk the whole list.
    struct AttentionList: RandomAccessCollection, MutableCollection {
        private var items: [AttentionItem] = []
        private var openByReferral: [ReferralID: Set<Int>] = [:]

        var startIndex: Int { items.startIndex }
        var endIndex: Int { items.endIndex }

        subscript(position: Int) -> AttentionItem {
            get { items[position] }
            set {
                let old = items[position]
                if old.resolvedAt == nil { openByReferral[old.referralId]?.remove(position) }
                items[position] = newValue
                if newValue.resolvedAt == nil { openByReferral[newValue.referralId, default: []].insert(position) }
            }
        }

        mutating func append(_ item: AttentionItem) {
            items.append(item)
            if item.resolvedAt == nil { openByReferral[item.referralId, default: []].insert(items.count - 1) }
        }

        /// The referral's first open item, if it has one.
        func open(for referral: ReferralID) -> AttentionItem? {
            openByReferral[referral]?.min().map { items[$0] }
        }
    }
}
