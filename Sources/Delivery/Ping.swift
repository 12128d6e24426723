import Foundation
import ReferralModel
import Transport

/// What a test delivery to an agency came to.
public struct PingResult: Sendable, Equatable, Codable {
    public var agency: AgencyID
    /// The endpoint called, without its query.
    public var endpoint: String
    /// The agency's HTTP status, or nil when no answer came.
    public var status: Int?
    /// `accepted` (2xx), `refused` (any other status) or `failed` (no answer).
    public var outcome: String
    public var milliseconds: Int
    /// True when the endpoint is https and the connection verified the agency's certificate.
    public var tls: Bool
    /// True when the test was signed with the agency's Standard Webhooks secret; a 401 or 403
    /// then usually means the agency holds a different secret.
    public var signed: Bool
    /// The `webhook-id` the test carried.
    public var webhookId: String
    /// Why it failed or was refused, in the gateway's words.
    public var detail: String?

    public init(
        agency: AgencyID, endpoint: String, status: Int?, outcome: String, milliseconds: Int, tls: Bool, signed: Bool, webhookId: String,
        detail: String? = nil
    ) {
        self.agency = agency
        self.endpoint = endpoint
        self.status = status
        self.outcome = outcome
        self.milliseconds = milliseconds
        self.tls = tls
        self.signed = signed
        self.webhookId = webhookId
        self.detail = detail
    }
}

extension Dispatcher {
    /// Sends the agency a signed test delivery that carries no personal data and says it is a test
    /// (`type: switchboard.test`), with the agency's own authentication and TLS settings, and
    /// reports what came back. No job or lane changes.
    /// - Returns: nil for an agency not in the configuration.
    public func ping(agency: AgencyID) async -> PingResult? {
        guard let target = targets[agency] else { return nil }
        return await ping(target)
    }

    /// The same test for a target not (yet) in the configuration: an agency, or a new endpoint,
    /// as a proposed agencies.yaml describes it, before it is live.
    public func ping(_ target: DeliveryTarget) async -> PingResult {
        let agency = target.agencyId
        let now = clock.now()
        if type(of: target.adapter).deliversToInbox {
            return PingResult(
                agency: agency, endpoint: "web inbox", status: nil, outcome: "accepted", milliseconds: 0, tls: false, signed: false,
                webhookId: "none", detail: "this agency has no endpoint: its referrals wait in its web inbox at the console")
        }
        let id = "test_" + Identifier.make(now: now)
        let body = Array(
            """
            {"data":{"agency":"\(agency)","message":"A test from Switchboard: no referral and no personal data. Answer 2xx to show this endpoint is ready."},\
            "test":true,"timestamp":"\(Timestamp.string(now))","type":"switchboard.test"}
            """.utf8)
        var headers: [(name: String, value: String)] = [("Content-Type", "application/json"), ("User-Agent", "Switchboard/1")]
        if let authorization = target.authorization { headers.append(authorization) }
        if let signer = target.signer {
            headers += signer.headers(id: id, timestamp: Int(now.timeIntervalSince1970), body: body)
        } else {
            headers.append(("webhook-id", id))
        }
        let request = HTTPRequest(
            url: target.endpoint, method: "POST", headers: headers, body: body, connectTimeout: target.connectTimeout,
            totalTimeout: target.totalTimeout, tls: target.tls)
        let started = ContinuousClock.now
        var result = PingResult(
            agency: agency, endpoint: Self.withoutQuery(target.endpoint), status: nil, outcome: "failed", milliseconds: 0,
            tls: false, signed: target.signer != nil, webhookId: id, detail: nil)
        do {
            var sent = request
            if let tokens = target.tokens {
                do {
                    sent = request.bearing(try await tokens.token())
                } catch {
                    result.detail = "\(error)"
                    return result
                }
            }
            let response = try await transport.send(sent)
            result.status = response.status
            result.tls = target.endpoint.hasPrefix("https://")
            switch response.status {
            case 200..<300:
                result.outcome = "accepted"
            case 401, 403:
                result.outcome = "refused"
                result.detail =
                    "HTTP \(response.status): the agency did not accept the gateway's credentials"
                    + (target.signer != nil ? "; check that it holds the same signing secret" : "")
            case 300..<400:
                result.outcome = "refused"
                result.detail = "HTTP \(response.status): the endpoint redirects; give the final URL in agencies.yaml"
            default:
                result.outcome = "refused"
                result.detail = "HTTP \(response.status)"
            }
        } catch {
            result.detail = "transport: \(error.message)"
        }
        let elapsed = started.duration(to: .now)
        result.milliseconds = Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
        return result
    }
}
