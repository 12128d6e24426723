import AdapterKit
import Foundation
import ReferralModel

/// Posts the canonical referral as a Standard Webhooks event. The core signs it with the agency's
/// `whsec_` secret (`webhook-id` is the delivery id, the same on every retry).
///
/// Body: `{"type": "referral.routed", "timestamp": …, "data": {"referralId", "deliveryId", "rule", "referral"}}`;
/// an amendment is `referral.updated`, its data naming the delivery it updates (`updates`).
/// A 2xx reply whose JSON body has a string `reference` records it as the agency's own reference.
public struct JSONWebhookAdapter: AgencyAdapter {
    public static let name = "json-webhook"
    public static let summary = "The canonical referral v1 as a Standard Webhooks JSON event."
    public static let optionSpecs: [OptionSpec] = []

    public let mappedFields = Set(ReferralField.allCases)

    public init(setup: AdapterSetup) throws(AdapterOptionErrors) {
        try OptionReader(setup, specs: Self.optionSpecs).finish()
    }

    public func render(_ referral: Referral, context: DeliveryContext) throws -> OutboundRequest {
        event("referral.routed", referral, context: context, updates: nil)
    }

    public func renderUpdate(_ referral: Referral, notice: ReferralNotice, context: DeliveryContext) throws -> OutboundRequest {
        event("referral.updated", referral, context: context, updates: notice.about)
    }

    private func event(_ type: String, _ referral: Referral, context: DeliveryContext, updates: String?) -> OutboundRequest {
        // Written by the same canonical writer as the stored referral, keys sorted.
        var writer = CanonicalJSONWriter()
        writer.object([
            (
                "data",
                .object([
                    ("deliveryId", .string(context.deliveryId)), ("referral", .canonical(Array(referral.canonicalJSON()))),
                    ("referralId", .string(context.referralId)), ("rule", .string(context.rule)), ("updates", updates.map { .string($0) }),
                ])
            ),
            ("timestamp", .string(Timestamp.string(context.receivedAt))),
            ("type", .string(type)),
        ])
        return OutboundRequest(body: writer.bytes, contentType: "application/json")
    }

    public func interpret(_ reply: AgencyReply, context: DeliveryContext) -> DeliveryOutcome {
        // A 2xx reply may say more: {"reference": "…"} is the agency's own id for it, and
        // {"status": "accepted"} that its system took the referral on there and then.
        struct Acknowledgement: Decodable {
            var reference: String?
            var status: String?
        }
        let acknowledgement = try? JSONDecoder().decode(Acknowledgement.self, from: Data(reply.body))
        let outcome = HTTPReplyClassifier.classify(reply, agencyReference: acknowledgement?.reference)
        if case .delivered(let reference) = outcome, acknowledgement?.status == "accepted" { return .accepted(agencyReference: reference) }
        return outcome
    }
}
