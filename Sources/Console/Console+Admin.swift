import Foundation
import HTTPEdge
import HTTPTypes
import Hummingbird
import ReferralModel
import UseCases

/// The administrators' pages: the overview, what needs attention, dead letters, pausing and
/// resuming an agency, and one referral's timeline.
extension Console {
    /// - Parameters:
    ///   - admin: administrators' pages.
    ///   - operations: the queue pages administrators and operations staff share.
    ///   - governance: the audit pages administrators and governance staff share.
    func addAdminRoutes(
        _ admin: RouterGroup<GatewayContext>, operations: RouterGroup<GatewayContext>, governance: RouterGroup<GatewayContext>
    ) {
        operations.get { _, context in try await overview(context: context) }
        admin.get("attention") { _, context in try await attention(context: context) }
        admin.post("attention/{id}") { request, context in try await resolve(request, context: context) }
        operations.get("dead") { _, context in try await deadLetters(context: context) }
        operations.post("dead/retry") { request, context in try await retry(request, context: context) }
        operations.post("agencies/{agency}/pause") { request, context in try await pause(request, context: context, pausing: true) }
        operations.post("agencies/{agency}/resume") { request, context in try await pause(request, context: context, pausing: false) }
        admin.get("referral") { request, _ in
            let id = Self.query(request, "id")?.trimmingCharacters(in: .whitespaces) ?? ""
            return ConsolePages.redirect("/console/admin/referrals/\(Self.percentEncoded(id))")
        }
        admin.get("referrals/{id}") { _, context in try await referral(context: context) }
        addRulesRoutes(admin, document: .rules)
        addRulesRoutes(admin, document: .agencies)
        addAuditRoutes(governance)
    }

    func overview(context: GatewayContext) async throws -> Response {
        let now = clock.now()
        let queues = try await components.queue.overview().agencies
        let attention = try await components.loop.attention(limit: 500)
        let counts = try await components.auditTrail.activity(since: ActivityChart.since(now), kinds: [.deliveryAttempted, .deliveryDelivered])
        let chart = ActivityChart(counts: counts, now: now)
        let directory = components.rules.live.current.agencies
        let today = try await components.queue.referralsToday()
        let rows = queues.map { queue in
            let problems = Self.problems(queue)
            let sent = today[queue.agency, default: 0]
            let capacity = directory[queue.agency]?.capacityPerDay
            return OverviewPage.Agency(
                id: queue.agency, name: directory[queue.agency]?.name ?? queue.agency.rawValue, status: queue.status.rawValue,
                circuit: queue.circuit.rawValue, pending: queue.pending, deadLettered: queue.deadLettered,
                oldest: queue.oldestPendingSeconds.map(Self.age) ?? "none waiting",
                problems: problems.isEmpty ? nil : problems.joined(separator: "; "), attention: !problems.isEmpty, paused: queue.paused != nil,
                configured: queue.configured, inbox: directory[queue.agency]?.adapter == "portal",
                stop: (queue.paused ?? queue.disabled).map { "\($0.reason) (\($0.by), \($0.at))" },
                today: capacity.map { "\(sent) of \($0)" } ?? "\(sent)", overCapacity: capacity.map { sent > $0 } ?? false)
        }
        let page = OverviewPage(
            // Needs attention first, then by name.
            agencies: rows.sorted { ($0.attention ? 0 : 1, $0.name) < ($1.attention ? 0 : 1, $1.name) },
            attentionCount: attention.count, hasAttention: !attention.isEmpty, chart: chart.svg, chartRows: chart.rows,
            deliveredTotal: chart.hours.map(\.delivered).reduce(0, +), failedTotal: chart.hours.map(\.failed).reduce(0, +), at: Timestamp.string(now))
        return pages.page(.adminOverview, frame(context, title: "Overview", current: "/console/admin"), page)
    }

    /// Why an agency's queue needs someone to look, in words; empty when it does not.
    static func problems(_ queue: AgencyQueue) -> [String] {
        var problems: [String] = []
        switch queue.status {
        case .disabled: problems.append("disabled: nothing is sent until it is resumed")
        case .paused: problems.append("paused")
        case .notConfigured: problems.append("no longer configured, with jobs waiting")
        case .running: break
        }
        if queue.circuit != .closed { problems.append("circuit \(queue.circuit.rawValue): its system is failing") }
        if queue.deadLettered > 0 { problems.append("\(queue.deadLettered) dead letter\(queue.deadLettered == 1 ? "" : "s")") }
        if let oldest = queue.oldestPendingSeconds, oldest > 3_600 { problems.append("oldest job waiting \(age(oldest))") }
        return problems
    }

    static func age(_ seconds: Int) -> String {
        switch seconds {
        case ..<60: "\(seconds) s"
        case ..<3_600: "\(seconds / 60) min"
        case ..<172_800: "\(seconds / 3_600) h \(seconds % 3_600 / 60) min"
        default: "\(seconds / 86_400) days"
        }
    }

    func attention(context: GatewayContext) async throws -> Response {
        let items = try await components.loop.attention(limit: 500)
        let now = components.clock.now()
        let page = AttentionPage(
            items: items.map { item in
                let due = item.dueAt.flatMap(Timestamp.parse).map { ConsoleTime.due($0, now: now) }
                return AttentionPage.Item(
                    id: item.id, referralId: item.referralId, agency: item.agency, reason: item.reason, since: ConsoleTime.local(item.since),
                    urgency: item.urgency?.rawValue, urgent: item.urgency.map { $0 != .routine } ?? false, due: due?.words,
                    overdue: due?.overdue ?? false, dueAt: item.dueAt.map(ConsoleTime.local))
            },
            agencies: components.rules.live.current.agencies.agencies.map { .init(id: $0.id, name: $0.name) })
        return pages.page(.adminAttention, frame(context, title: "Needs attention", current: "/console/admin/attention"), page)
    }

    func resolve(_ request: Request, context: GatewayContext) async throws -> Response {
        let form = try await ConsoleForm.decode(ResolveForm.self, from: request)
        let id = context.parameters.get("id") ?? ""
        let actor = context.principal?.actor ?? "administrator"
        let resolution: ReferralLoop.Resolution
        switch form.action {
        case "reroute":
            guard let agency = ConsoleForm.trimmed(form.agency) else {
                throw ConsoleRefusal(status: .badRequest, message: "Choose the agency to send it to.")
            }
            resolution = .reroute(agency: AgencyID(agency))
        case "close":
            guard let reason = ConsoleForm.trimmed(form.reason), reason.count <= 2_000 else {
                throw ConsoleRefusal(status: .badRequest, message: "Say why the referral is closed (up to 2,000 characters): the record keeps it.")
            }
            resolution = .close(reason: reason)
        default:
            throw ConsoleRefusal(status: .badRequest, message: "Choose re-route or close.")
        }
        do {
            let item = try await components.loop.resolve(id, resolution, actor: actor)
            await tell(context, "Referral \(item.referralId) \(item.resolution ?? "resolved").")
        } catch let refusal as ReferralLoop.Refusal {
            throw ProblemResponse(refusal)
        }
        return ConsolePages.redirect("/console/admin/attention")
    }

    func deadLetters(context: GatewayContext) async throws -> Response {
        let letters = try await components.queue.deadLetters(
            agency: nil, limit: 200, by: context.principal?.actor ?? "administrator", withReplies: context.principal?.role == .admin
        ).deadLetters
        let page = DeadLettersPage(
            letters: letters.map {
                .init(
                    deliveryId: $0.deliveryId, referralId: $0.referralId, agency: $0.agency, attempts: $0.attempts, reason: $0.reason,
                    at: $0.deadLetteredAt ?? "")
            }, timelines: context.principal?.role == .admin)
        return pages.page(.adminDead, frame(context, title: "Dead letters", current: "/console/admin/dead"), page)
    }

    func retry(_ request: Request, context: GatewayContext) async throws -> Response {
        let form = try await ConsoleForm.decode(RetryForm.self, from: request)
        let ids = (form.delivery ?? []).filter(Identifier.isWellFormed).map(DeliveryID.init)
        guard !ids.isEmpty else { throw ConsoleRefusal(status: .badRequest, message: "Tick the dead letters to put back in the queue.") }
        let result = try await components.queue.retry(.deliveries(ids), by: context.principal?.actor ?? "administrator")
        await tell(context, "\(result.requeued.count) dead letter\(result.requeued.count == 1 ? "" : "s") put back in the queue.")
        return ConsolePages.redirect("/console/admin/dead")
    }

    func pause(_ request: Request, context: GatewayContext, pausing: Bool) async throws -> Response {
        let form = try await ConsoleForm.decode(PauseForm.self, from: request)
        let agency = AgencyID(context.parameters.get("agency") ?? "")
        let actor = context.principal?.actor ?? "administrator"
        let changed =
            pausing
            ? try await components.queue.pause(agency: agency, reason: ConsoleForm.trimmed(form.reason), by: actor)
            : try await components.queue.resume(agency: agency, by: actor)
        guard changed != nil else { throw ConsoleRefusal(status: .notFound, message: "There is no agency \(agency) in the configuration.") }
        await tell(context, pausing ? "Deliveries to \(agency) are paused; they wait in its queue." : "Deliveries to \(agency) resumed.")
        return ConsolePages.redirect("/console/admin")
    }

    func referral(context: GatewayContext) async throws -> Response {
        let id = ReferralID(context.parameters.get("id") ?? "")
        guard let principal = context.principal, Identifier.isWellFormed(id),
            let report = try await components.intake.report(referralId: id, viewer: principal.actor, role: .admin)
        else {
            throw ConsoleRefusal(status: .notFound, message: "There is no referral with the id \(String(id.rawValue.prefix(40))).")
        }
        return pages.page(.adminReferral, frame(context, title: "Referral \(report.id)"), ReferralPage(referral: ReferralView(report)))
    }
}
