import ReferralModel

/// What the administrators' pages show, one type per page.
struct OverviewPage: Sendable {
    struct Agency: Sendable {
        var id: AgencyID
        var name: String
        var status: String
        var circuit: String
        var pending: Int
        var deadLettered: Int
        var oldest: String
        /// Why it needs someone to look, in words; nil when it does not.
        var problems: String?
        var attention: Bool
        var paused: Bool
        var configured: Bool
        var inbox: Bool
        /// Why, by whom and when it was paused or disabled.
        var stop: String?
        /// Today's referrals, against its declared capacity when it has one: `12 of 40`.
        var today: String
        /// Past the capacity it declared.
        var overCapacity: Bool
    }

    var agencies: [Agency]
    var attentionCount: Int
    var hasAttention: Bool
    var chart: String
    var chartRows: [ActivityChart.Row]
    var deliveredTotal: Int
    var failedTotal: Int
    var at: String
}

struct AttentionPage: Sendable {
    struct Item: Sendable {
        var id: String
        var referralId: ReferralID
        var agency: AgencyID?
        var reason: String
        var since: String
        var urgency: String?
        var urgent: Bool
        var due: String?
        var overdue: Bool
        var dueAt: String?
    }

    struct Choice: Sendable {
        var id: AgencyID
        var name: String
    }

    var items: [Item]
    /// Where an item may be re-routed.
    var agencies: [Choice]
}

struct DeadLettersPage: Sendable {
    struct Letter: Sendable {
        var deliveryId: DeliveryID
        var referralId: ReferralID
        var agency: AgencyID
        var attempts: Int
        var reason: String
        var at: String
    }

    var letters: [Letter]
    var hasLetters: Bool
    /// Whether each links to its referral's timeline (administrators'; operations staff read no referral).
    var timelines: Bool

    init(letters: [Letter], timelines: Bool = true) {
        self.letters = letters
        self.timelines = timelines
        hasLetters = !letters.isEmpty
    }
}

struct ReferralPage: Sendable {
    var referral: ReferralView
}

/// A referral's status, deliveries, history and notes as the administrators' and referrers' pages
/// show them.
struct ReferralView: Sendable {
    struct Delivery: Sendable {
        var agency: AgencyID
        var rule: String
        var state: String
        var attempts: Int
        var deliveredAt: String?
        var answeredAt: String?
        var declineReason: String?
        var lastError: String?
    }

    struct Event: Sendable {
        var at: String
        var event: String
        var agency: AgencyID?
        var detail: String?
    }

    struct Note: Sendable {
        var at: String
        var author: String
        var kind: String
        var text: String
    }

    /// An agency's question to the referrer.
    struct Question: Sendable {
        var at: String
        var text: String
    }

    var id: ReferralID
    var status: String
    var receivedAt: String
    var submittedBy: String
    var rulesVersion: String
    var urgency: String
    var needs: String
    var deliveries: [Delivery]
    var history: [Event]
    /// Completed or closed: nothing more will happen to it.
    var settled: Bool
    var notes: [Note]
    var attention: String?
    /// For the referrer: the agencies' questions, and whether one waits for an answer.
    var questions: [Question] = []
    var returned = false
    var refresh = false
    /// What was wrong with the referrer's answer, if it was not taken.
    var problem: String? = nil

    init(_ report: ReferralReport) {
        id = report.id
        status = report.status.rawValue
        receivedAt = report.receivedAt
        submittedBy = report.submittedBy
        rulesVersion = report.rulesVersion
        urgency = report.urgency.rawValue
        needs = report.needs.joined(separator: ", ")
        deliveries = report.deliveries.filter { $0.notice == nil }.map {
            Delivery(
                agency: $0.agency, rule: $0.rule, state: $0.state.rawValue, attempts: $0.attempts,
                deliveredAt: TemplateValues.nonEmpty($0.deliveredAt), answeredAt: TemplateValues.nonEmpty($0.answeredAt),
                declineReason: $0.declineReason?.rawValue, lastError: TemplateValues.nonEmpty($0.lastError))
        }
        history = report.history.map {
            Event(at: $0.at, event: $0.event, agency: $0.agency, detail: TemplateValues.nonEmpty($0.detail))
        }
        settled = [.completed, .closed].contains(report.status)
        notes = (report.notes ?? []).map { Note(at: $0.at, author: $0.author, kind: $0.kind, text: $0.text) }
        attention = report.attention.map { "Needs attention since \($0.since): \($0.reason)" }
    }
}
