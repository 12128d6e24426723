import Foundation
import HTTPEdge
import HTTPTypes
import Hummingbird
import ReferralModel
import UseCases

/// The web inbox of an agency without a system of its own (or any agency's staff): its
/// referrals, each opened (the read is audited) as the agency may see it, and accepted, declined
/// with a reason, or completed through the same lifecycle as the API.
extension Console {
    func addInboxRoutes(_ inbox: RouterGroup<GatewayContext>) {
        inbox.get { request, context in try await worklist(request, context: context) }
        inbox.get("{id}") { _, context in try await openReferral(context: context) }
        inbox.post("{id}/answer") { request, context in try await answer(request, context: context) }
    }

    /// The agency the signed-in key answers for.
    static func agency(_ context: GatewayContext) throws -> AgencyID {
        guard let agency = context.principal?.agency else {
            throw ConsoleRefusal(status: .forbidden, message: "Your key answers for no agency. Ask an administrator to name your agency on it.")
        }
        return agency
    }

    func worklist(_ request: Request, context: GatewayContext) async throws -> Response {
        let agency = try Self.agency(context)
        let actor = context.principal?.actor ?? agency.rawValue
        let show = Self.query(request, "show") ?? "open"
        let now = components.clock.now()
        var page = InboxPage(agencyName: components.rules.live.current.agencies[agency]?.name ?? agency.rawValue)
        let rows: [InboxRow]
        if show == "open" {
            // What waits for an answer, soonest due first, a page at a time.
            let offset = max(0, Self.query(request, "from").flatMap(Int.init) ?? 0)
            let (found, total) = try await components.loop.inboxToAnswer(agency: agency, actor: actor, limit: Self.inboxPage, offset: offset)
            rows = found
            if offset + found.count < total { page.older = "/console/inbox?show=open&from=\(offset + Self.inboxPage)" }
            if offset > 0 { page.newest = "/console/inbox?show=open" }
        } else {
            let states: Set<DeliveryState>? =
                switch show {
                case "all": nil
                case "accepted": [.accepted]
                default: [.declined, .completed, .withdrawn]
                }
            // A page at a time, newest first; "older" carries on from the last one shown.
            let before = Self.query(request, "before").flatMap { Identifier.isWellFormed($0) ? DeliveryID($0) : nil }
            rows = try await components.loop.inbox(agency: agency, actor: actor, states: states, limit: Self.inboxPage, before: before)
            if rows.count == Self.inboxPage, let last = rows.last?.item.deliveryId { page.older = "/console/inbox?show=\(show)&before=\(last)" }
            if before != nil { page.newest = "/console/inbox?show=\(show)" }
        }
        let tabs = [("open", "To answer"), ("accepted", "Accepted"), ("closed", "Closed"), ("all", "All")]
        page.tabs = tabs.map { .init(show: $0.0, label: $0.1, current: $0.0 == show) }
        page.items = rows.map { row in
            let item = row.item
            let due = item.deadlineAt.flatMap(Timestamp.parse).map { ConsoleTime.due($0, now: now) }
            let waiting = item.state == .delivered || item.state == .returned
            return InboxPage.Item(
                referralId: item.referralId, state: Self.words(item.state), urgency: item.urgency.rawValue, urgent: item.urgency != .routine,
                name: row.name, age: row.age.map { "aged \($0)" }, needs: row.needs.joined(separator: ", "),
                receivedAt: ConsoleTime.local(item.receivedAt), due: waiting ? due?.words : nil, overdue: waiting && due?.overdue == true,
                dueAt: waiting ? item.deadlineAt.map(ConsoleTime.local) : nil)
        }
        return pages.page(.inbox, frame(context, title: "Inbox", current: "/console/inbox"), page)
    }

    /// Referrals an inbox page lists.
    static let inboxPage = 50

    func openReferral(context: GatewayContext, problem: String? = nil, status: HTTPResponse.Status = .ok) async throws -> Response {
        let agency = try Self.agency(context)
        let id = ReferralID(context.parameters.get("id") ?? "")
        guard
            let view = try await components.loop.view(
                referralId: id, agency: agency, actor: context.principal?.actor ?? agency.rawValue, via: "web inbox")
        else {
            throw ConsoleRefusal(status: .notFound, message: "There is no referral with this id in your agency's inbox.")
        }
        let state = view.delivery.state
        let due = view.delivery.deadlineAt.flatMap(Timestamp.parse).map { ConsoleTime.due($0, now: components.clock.now()) }
        let waiting = state == .delivered || state == .returned
        let page = InboxReferralPage(
            referralId: view.referralId, receivedAt: ConsoleTime.local(view.receivedAt), state: Self.words(state),
            fields: Self.fields(view.referral), canAnswer: waiting, canComplete: state == .accepted, returned: state == .returned,
            reasons: DeclineReason.allCases.map { .init(code: $0.rawValue, label: Self.words($0)) },
            respondBy: waiting ? view.delivery.deadlineAt.map(ConsoleTime.local) : nil, due: waiting ? due?.words : nil,
            overdue: waiting && due?.overdue == true, hasConversation: view.notes != nil,
            conversation: (view.notes ?? []).map {
                .init(who: $0.kind == "answer" ? "The referrer answered" : "You asked", at: ConsoleTime.local($0.at), text: $0.text)
            },
            problem: problem)
        return pages.page(.inboxReferral, frame(context, title: "Referral \(view.referralId)", current: "/console/inbox"), page, status: status)
    }

    func answer(_ request: Request, context: GatewayContext) async throws -> Response {
        let agency = try Self.agency(context)
        let id = ReferralID(context.parameters.get("id") ?? "")
        let form = try await ConsoleForm.decode(AnswerForm.self, from: request)
        guard let answer = form.status.flatMap(ReferralLoop.Answer.init(rawValue:)) else {
            throw ConsoleRefusal(status: .badRequest, message: "Choose accept, decline or complete.")
        }
        let reason = ConsoleForm.trimmed(form.reason).flatMap(DeclineReason.init(rawValue:))
        let text = ConsoleForm.trimmed(form.text)
        let reference = reason == .duplicate ? ConsoleForm.trimmed(form.reference) : nil
        if answer == .declined, reason == nil {
            return try await openReferral(
                context: context, problem: "Choose why you are declining this referral.", status: .unprocessableContent)
        }
        if reason == .insufficientInformation, text == nil {
            return try await openReferral(
                context: context, problem: "Say what information is missing: the referrer is asked your question.", status: .unprocessableContent)
        }
        if let reference,
            reference.count > ReferralLimits.externalReferenceLength || TextCharacters.firstRefused(in: reference, freeText: false) != nil
        {
            return try await openReferral(
                context: context, problem: "Your reference must be one line of at most 100 characters.", status: .unprocessableContent)
        }
        if let text, text.count > 2_000 {
            return try await openReferral(
                context: context, problem: "The note is too long: keep it to 2,000 characters.", status: .unprocessableContent)
        }
        do {
            let answered = try await components.loop.answer(
                referralId: id, agency: agency, actor: context.principal?.actor ?? agency.rawValue, answer: answer,
                reason: answer == .declined ? reason : nil, text: text, reference: reference)
            let rerouted = answered.reroutedTo.map { " It goes next to \($0)." } ?? ""
            let returned = answered.state == .returned ? " The referrer is asked your question; their answer will come back here." : ""
            await tell(context, "Referral \(id) is \(Self.words(answered.state)).\(rerouted)\(returned)")
        } catch let refusal as ReferralLoop.Refusal {
            throw ProblemResponse(refusal)
        }
        return ConsolePages.redirect(answer == .accepted ? "/console/inbox/\(id)" : "/console/inbox")
    }

    /// A delivery's state as the inbox says it.
    static func words(_ state: DeliveryState) -> String {
        switch state {
        case .pending: "on its way"
        case .delivered: "waiting for your answer"
        case .deadLettered: "could not be delivered"
        case .accepted: "accepted"
        case .declined: "declined"
        case .completed: "completed"
        case .withdrawn: "withdrawn: it went elsewhere, or was cancelled"
        case .returned: "returned to the referrer with your question"
        }
    }

    static func words(_ reason: DeclineReason) -> String {
        switch reason {
        case .outOfArea: "The person lives outside our area"
        case .notEligible: "The person is not eligible for our service"
        case .noCapacity: "We have no capacity"
        case .duplicate: "We already have this person (give our reference below)"
        case .personDeclined: "The person does not want our service (it goes nowhere else)"
        case .insufficientInformation: "There is not enough information (ask the referrer in the note)"
        case .other: "Another reason (say in the note)"
        }
    }

    /// The referral's fields as labelled rows, leaving out those absent (or withheld from this agency).
    static func fields(_ referral: Referral) -> [InboxReferralPage.Field] {
        let subject = referral.subject
        let rows: [(String, String?)] = [
            ("Name", "\(subject.givenName) \(subject.familyName)"), ("Date of birth", subject.birthDate),
            ("NHS number", subject.nhsNumber.map(NHSNumber.display)),
            ("Address", subject.address), ("Postcode", subject.postcode), ("Phone", subject.phone),
            ("Preferred language", subject.preferredLanguage),
            ("Interpreter needed", subject.interpreterNeeded.map { $0 ? "Yes" : "No" }), ("Gender", subject.gender?.rawValue),
            ("GP practice", subject.registeredPractice), ("Needs", referral.needs.joined(separator: ", ")),
            ("Urgency", "\(referral.urgency.rawValue): \(referral.urgency.definition)"), ("Reason", referral.reason),
            ("Consent", referral.consent.status.rawValue), ("Lawful basis", referral.consent.lawfulBasis?.rawValue),
            ("Safeguarding concern", referral.safeguarding.map { $0 ? "Yes" : "No" }), ("Respond by", referral.respondBy),
            ("Expected discharge", referral.expectedDischargeDate),
            ("Referred by", [referral.referrer.name, referral.referrer.role].compactMap { $0 }.joined(separator: ", ")),
            ("Organisation", referral.referrer.organisationName ?? referral.referrer.organisation), ("Referrer phone", referral.referrer.phone),
            ("Referrer email", referral.referrer.email), ("Their reference", referral.externalReference),
        ]
        return rows.compactMap { label, value in value.map { .init(label: label, value: $0) } }
    }
}

struct InboxPage: Sendable {
    struct Tab: Sendable {
        var show: String
        var label: String
        var current: Bool
    }

    struct Item: Sendable {
        var referralId: ReferralID
        var state: String
        var urgency: String
        var urgent: Bool
        var name: String
        var age: String?
        var needs: String
        var receivedAt: String
        var due: String?
        var overdue: Bool
        var dueAt: String?
    }

    var agencyName: String
    var tabs: [Tab] = []
    var items: [Item] = []
    /// The next page's address, and the first page's when this is not it.
    var older: String? = nil
    var newest: String? = nil
}

struct InboxReferralPage: Sendable {
    struct Field: Sendable {
        var label: String
        var value: String
    }

    struct Reason: Sendable {
        var code: String
        var label: String
    }

    struct Exchange: Sendable {
        var who: String
        var at: String
        var text: String
    }

    var referralId: ReferralID
    var receivedAt: String
    var state: String
    var fields: [Field]
    var canAnswer: Bool
    var canComplete: Bool
    var returned: Bool
    var reasons: [Reason]
    var respondBy: String?
    var due: String?
    var overdue: Bool
    var hasConversation: Bool
    var conversation: [Exchange]
    var problem: String?
}
