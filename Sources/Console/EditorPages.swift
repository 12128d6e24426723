import Mustache
import ReferralModel

/// The rules and agencies editor: the live text and its record, the proposals waiting, and what a
/// check of a submitted text found.
struct EditorPage: Sendable {
    struct Proposal: Sendable {
        var id: String
        var by: String
        var at: String
        var summary: String
        /// The live version changed since it was proposed: approving it would fail.
        var stale: Bool
        var mine: Bool
    }

    struct Agency: Sendable {
        var id: AgencyID
        var name: String
        var endpoint: String
        var inbox: Bool
    }

    struct Problem: Sendable {
        var line: Int
        var column: Int
        var message: String
        var hint: String?
    }

    struct DiffLine: Sendable {
        var line: String
        /// `head`, `add`, `del` or `same`, for the page to colour.
        var kind: String
    }

    /// An agency the change adds or sends somewhere new, which may be tested before it is applied.
    struct Endpoint: Sendable {
        var id: AgencyID
        var name: String
        var endpoint: String
        var new: Bool
    }

    struct Trace: Sendable {
        var id: String
        var matched: Bool
        var why: String
    }

    /// Where a referral would go, and why rule by rule.
    struct Outcome: Sendable {
        var routes: String
        var rules: [Trace]
    }

    /// A dry run against the live rules and the proposed ones, or why there could be none.
    struct DryRun: Sendable {
        var problem: String? = nil
        var live: Outcome? = nil
        var proposed: Outcome? = nil
    }

    /// What a change would have done to the referrals of the last days, replayed (`ChangeImpact`).
    struct Impact: Sendable {
        struct AgencyRow: Sendable {
            var agency: String
            var before: Int
            var after: Int
            var gained: Int
            var lost: Int
            var gainedExamples: [String]
            var lostExamples: [String]
            // Stored, not computed: templates read stored properties only.
            var anyGainedExamples = false
            var anyLostExamples = false
        }

        struct OutcomeRow: Sendable {
            var outcome: String
            var before: Int
            var after: Int
            var entering: Int
            var leaving: Int
            var enteringExamples: [String]
            var leavingExamples: [String]
            var anyEnteringExamples = false
            var anyLeavingExamples = false
        }

        var days: Int
        var referrals: Int
        var changed: Int
        var agencies: [AgencyRow]
        var outcomes: [OutcomeRow]
        /// The change moves no referral anywhere else.
        var noDifference: Bool
        /// Why it could not be worked out, if it could not.
        var problem: String? = nil
        var anyAgencies = false
        var anyOutcomes = false
    }

    /// A pending proposal's impact, asked for from the list of proposals.
    struct ProposalImpact: Sendable {
        var id: String
        var summary: String
        var by: String
        var impact: Impact
    }

    /// What checking a submitted text found.
    struct Check: Sendable {
        var text: String
        var base: String
        var referral: String?
        var referralId: String?
        var stale: String? = nil
        var refusal: String? = nil
        var problems: [Problem] = []
        var problemCount: String? = nil
        var valid = false
        var summary: String? = nil
        var diff: [DiffLine] = []
        var unchanged = false
        var dryRun: DryRun? = nil
        var newEndpoints: [Endpoint] = []
        var testResult: String? = nil
        var impact: Impact? = nil
    }

    var document: String
    var documentTitle: String
    var liveVersion: String
    var text: String
    var base: String
    var approvalRequired: Bool
    var appliedBy: String?
    var appliedAt: String?
    var number: Int
    var isAgencies: Bool
    var proposals: [Proposal]
    var agencies: [Agency] = []
    /// What a check of a submitted text found; its text and base are shown instead of the live ones.
    var check: Check? = nil
    var proposalImpact: ProposalImpact? = nil
}

extension EditorPage: MustacheParent {
    func child(named name: String) -> Any? {
        check.flatMap { TemplateValues.stored(name, in: $0) } ?? TemplateValues.stored(name, in: self)
    }
}

struct HistoryPage: Sendable {
    struct Version: Sendable {
        var number: Int
        var version: String
        var at: String
        var by: String
        var source: String
        var summary: String
        var live: Bool
    }

    var document: String
    var base: String
    var approvalRequired: Bool
    var versions: [Version]
}
