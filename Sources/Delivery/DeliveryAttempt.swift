import AdapterKit
import Audit
import Foundation
import Logging
import ReferralModel
import Storage
import Transport

extension Dispatcher {
    /// Makes one attempt, records its result, and counts its health against the agency's circuit.
    func deliver(_ leased: LeasedDelivery) async {
        guard let target = targets[leased.agency] else { return }
        // Minimum necessary: the agency learns only of the needs that routed the referral to it.
        let job = Self.minimised(leased, receivesAllNeeds: target.receivesAllNeeds)
        let context = DeliveryContext(
            deliveryId: job.deliveryId.rawValue, referralId: job.referralId.rawValue, agencyId: job.agency.rawValue, rule: job.rule,
            receivedAt: job.receivedAt,
            withheld: target.withheld)
        let policy = target.retry(for: leased.referral.urgency)
        // What this agency is sent: the adapter's fields, less those withheld, that the referral has.
        let referral = job.referral
        // A notice carries no field of the referral, but an update (and any notice an adapter renders with the referral).
        let carries = job.notice == nil || job.notice?.type == "referral.updated" || type(of: target.adapter).noticesCarryReferral
        let sent = carries ? (sendable[job.agency] ?? []).filter { $0.isPresent(in: referral) } : []
        let started = ContinuousClock.now
        let (answer, health, reply) = await attempt(job, target: target, context: context)
        // Logs, the audit trail and the referrer's view name the reply by size and digest only.
        let outcome = reply.map { answer.citing($0) } ?? answer
        let elapsed = started.duration(to: .now)
        let milliseconds = Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
        let now = clock.now()
        let reference = AuditNarrative.DeliveryReference(referralId: job.referralId, deliveryId: job.deliveryId, agency: job.agency)
        func attempted(_ ending: AuditNarrative.AttemptEnding) -> AuditEntry {
            AuditNarrative.deliveryAttempted(
                reference, at: now, attempt: job.attempt, of: policy.maxAttempts, ending: ending, milliseconds: milliseconds,
                fieldsSent: sent.map(\.path))
        }
        var audit: [AuditEntry] = []
        let result: AttemptResult
        switch outcome {
        case .delivered(let agencyReference):
            result = .delivered(agencyReference: agencyReference)
            audit.append(attempted(.delivered))
            audit.append(AuditNarrative.deliveryDelivered(reference, at: now, referenceLength: agencyReference?.count))
        case .accepted(let agencyReference):
            // The agency's system took it on in its reply: the same state an answer through the API reaches.
            result = .accepted(agencyReference: agencyReference)
            audit.append(attempted(.delivered))
            audit.append(AuditNarrative.deliveryDelivered(reference, at: now, referenceLength: agencyReference?.count))
            audit.append(AuditNarrative.referralAnswered(reference, at: now, actor: "dispatcher", state: .accepted, reason: nil, note: nil))
        case .retryable(let reason, _) where health == .gone:
            // The job waits, due at once, for an operator to resume the agency.
            result = .retry(at: now, error: reason)
            audit.append(attempted(.willRetry(reason: reason, nextAttempt: now)))
        case .retryable(let reason, let retryAfter) where job.attempt < policy.maxAttempts:
            // Full jitter; in a simulation, drawn from its seed so a replay retries at the same moments.
            let jitter = Identifier.seeded?.unit() ?? Double.random(in: 0...1)
            let next = now.addingTimeInterval(policy.delay(afterAttempt: job.attempt, retryAfter: retryAfter, random: jitter))
            result = .retry(at: next, error: reason)
            audit.append(attempted(.willRetry(reason: reason, nextAttempt: next)))
        case .retryable(let reason, _):
            let final = "\(reason); gave up after \(job.attempt) attempts"
            result = .deadLetter(error: final)
            audit.append(attempted(.failed(reason: reason)))
            audit.append(AuditNarrative.deliveryDeadLettered(reference, at: now, reason: final))
        case .permanent(let reason):
            result = .deadLetter(error: reason)
            audit.append(attempted(.failed(reason: reason)))
            audit.append(AuditNarrative.deliveryDeadLettered(reference, at: now, reason: reason))
        }
        let counted: DeliveryMetrics.Outcome =
            switch result {
            case .delivered: .delivered
            case .accepted: .accepted
            case .retry: .retry
            case .deadLetter: .deadLettered
            }
        metrics.attempted(agency: job.agency.rawValue, outcome: counted, duration: elapsed)
        // The agency is done with this slot: the next attempt may start while this result commits.
        // The lease stays held until it has, so no one else takes the job meanwhile.
        let change = book.withLock { book in
            book.beganRecording()
            return book.finished(agency: job.agency, health: health, now: now)
        }
        if let change { announce(change) }
        doorbell.ring()
        do {
            let kept: String? = if case .delivered = result { nil } else if case .accepted = result { nil } else { reply?.kept }
            let held = try await recordPatiently(DeliveryCompletion(lease: job, result: result, audit: audit, at: now, agencyReply: kept))
            log(job, result: result, milliseconds: milliseconds, leaseHeld: held)
        } catch {
            // The lease expires and the job runs again: at-least-once.
            logger.error("Could not record a delivery attempt", metadata: ["delivery": "\(job.deliveryId)", "error.type": "\(type(of: error))"])
        }
        book.withLock { $0.endedRecording() }
    }

    /// Records an attempt's result. While the store is unavailable (a database outage) it tries
    /// again every quarter of a second, for up to `recordingPatience` and not once the dispatcher
    /// is stopping, so an attempt the agency received is recorded when the database is back rather
    /// than made again when its lease runs out. Safe however late: a result is written only under
    /// the lease its attempt held, so once another worker has taken the job nothing is written.
    private func recordPatiently(_ completion: DeliveryCompletion) async throws -> Bool {
        let until = ContinuousClock.now + Self.recordingPatience
        while true {
            do {
                return try await recorder.record(completion)
            } catch  where StoreFault.isUnavailable(error) && ContinuousClock.now < until && !stopping.load(ordering: .relaxed) {
                try await Task.sleep(for: .milliseconds(250))
            }
        }
    }

    /// How long an attempt's result waits for a store that is unavailable.
    static let recordingPatience: Duration = .seconds(120)

    /// The job with its referral cut to the needs that routed it to this agency, unless it takes all.
    static func minimised(_ job: LeasedDelivery, receivesAllNeeds: Bool) -> LeasedDelivery {
        guard let routedFor = job.needs, !receivesAllNeeds else { return job }
        var cut = job
        cut.referral.needs = routedFor
        return cut
    }

    private func log(_ job: LeasedDelivery, result: AttemptResult, milliseconds: Int, leaseHeld: Bool) {
        guard logger.logLevel <= .info else { return }
        var metadata: Logger.Metadata = [
            "referral": "\(job.referralId)", "delivery": "\(job.deliveryId)", "agency": "\(job.agency)", "request": "\(job.requestId ?? "-")",
            "attempt": "\(job.attempt)", "latency_ms": "\(milliseconds)",
        ]
        switch result {
        case .delivered:
            metadata["outcome"] = "delivered"
        case .accepted:
            metadata["outcome"] = "accepted"
        case .retry(let at, let error):
            metadata["outcome"] = "retry"
            metadata["error"] = "\(error)"
            metadata["next"] = "\(Timestamp.string(at))"
        case .deadLetter(let error):
            metadata["outcome"] = "dead-lettered"
            metadata["error"] = "\(error)"
        }
        if !leaseHeld { metadata["lease"] = "lost; another worker owns the job" }
        logger.info("Delivery attempt", metadata: metadata)
    }

    private func attempt(_ job: LeasedDelivery, target: DeliveryTarget, context: DeliveryContext) async -> (
        DeliveryOutcome, Health, AgencyReplyEvidence?
    ) {
        // An agency without a system of its own: the delivery is placed in its web inbox, unsent.
        if type(of: target.adapter).deliversToInbox { return (.delivered(agencyReference: nil), .healthy, nil) }
        let rendered: OutboundRequest
        do {
            if let notice = job.notice, notice.type == "referral.updated" {
                rendered = try target.adapter.renderUpdate(job.referral.withholding(context.withheld), notice: notice, context: context)
            } else if let notice = job.notice {
                rendered = try target.adapter.renderNotice(notice, referral: job.referral.withholding(context.withheld), context: context)
            } else {
                rendered = try target.adapter.render(job.referral.withholding(context.withheld), context: context)
            }
        } catch {
            return (.permanent(reason: "the \(type(of: target.adapter).name) adapter could not render the referral: \(error)"), .answered, nil)
        }
        var headers: [(name: String, value: String)] = [
            ("Content-Type", rendered.contentType), ("User-Agent", "Switchboard/1"),
        ]
        headers += rendered.headers.map { ($0.name, $0.value) }
        // The gateway's id for the request that brought the referral in (never one a client chose),
        // so an agency's logs and ours can be matched.
        // An adapter whose standard fixes the header's meaning (BaRS: the delivery) sets its own.
        if let requestId = job.requestId, !rendered.headers.contains(where: { $0.name.lowercased() == "x-request-id" }) {
            headers.append(("X-Request-Id", requestId))
        }
        if let authorization = target.authorization { headers.append(authorization) }
        if let signer = target.signer {
            headers += signer.headers(id: job.deliveryId.rawValue, timestamp: Int(clock.now().timeIntervalSince1970), body: rendered.body)
        } else {
            headers.append(("webhook-id", job.deliveryId.rawValue))
        }
        let request = HTTPRequest(
            url: target.endpoint + rendered.path, method: rendered.method, headers: headers, body: rendered.body,
            connectTimeout: target.connectTimeout, totalTimeout: target.totalTimeout, tls: target.tls)
        var response: HTTPResponse
        do {
            if let tokens = target.tokens {
                // Behind the NHS API platform: its access token, and one new one if the agency refuses it.
                let token = try await tokens.token()
                response = try await transport.send(request.bearing(token))
                if response.status == 401 {
                    await tokens.discard(token)
                    response = try await transport.send(request.bearing(try await tokens.token()))
                }
            } else {
                response = try await transport.send(request)
            }
        } catch let error as TransportError {
            let reason = "transport: \(error.message)"
            return (.retryable(reason: reason, retryAfter: nil), .failing(reason: reason), nil)
        } catch {
            let reason = "\(error)"
            return (.retryable(reason: reason, retryAfter: nil), .failing(reason: reason), nil)
        }
        let reply = AgencyReply(status: response.status, headers: response.headers.map { .init($0.name, $0.value) }, body: response.body)
        let evidence = AgencyReplyEvidence(body: response.body)
        switch response.status {
        case 300..<400:
            // Redirects are never followed: the referral goes only where agencies.yaml says.
            // Only where it pointed: the rest of a Location may carry anything.
            let location = reply.header("Location").flatMap(Self.origin).map { " to \($0)" } ?? ""
            return (
                .permanent(reason: "HTTP \(response.status): the agency's system redirected\(location); redirects are not followed"), .answered,
                evidence
            )
        case 410:
            return (
                .retryable(reason: "HTTP 410 Gone: the endpoint no longer exists; agency disabled until an operator resumes it", retryAfter: nil),
                .gone, evidence
            )
        default:
            break
        }
        let outcome = target.adapter.interpret(reply, context: context)
        switch outcome {
        case .delivered, .accepted: return (outcome, .healthy, evidence)
        case .retryable(let reason, _) where response.status >= 500 || response.status == 408:
            return (outcome, .failing(reason: reason), evidence)
        case .retryable, .permanent: return (outcome, .answered, evidence)
        }
    }

    /// A URL without its query or fragment (they may carry anything), at most 200 characters.
    static func withoutQuery(_ url: String) -> String {
        String(url.prefix { $0 != "?" && $0 != "#" }.prefix(200))
    }

    /// A URL's scheme and host (`https://elsewhere.example`), or nil when it has none that is plain.
    static func origin(_ url: String) -> String? {
        guard let components = URLComponents(string: url), let scheme = components.scheme, let host = components.host,
            !host.isEmpty, host.count <= 100,
            host.unicodeScalars.allSatisfy({
                $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || ".-".unicodeScalars.contains($0))
            })
        else { return nil }
        return "\(scheme)://\(host)"
    }
}
