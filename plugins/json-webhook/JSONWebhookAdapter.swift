import AdapterKit
import Foundation
import ReferralModel

/// Posts the canonical referral as a Standard Webhooks event. The core signs it with the agency's
/// `whsec_` secret (`webhook-id` is the delivery id, the same on every retry).
///
/// Body: `{"type": "referral.routed", "timestamp": …, "data": {"referralId", "deliveryId", "rule", "referral"}}`.
/// A 2xx reply whose JSON body has a string `reference` records it as the agency's own reference.
public struct JSONWebhookAdapter: AgencyAdapter {
    public static let name = "json-webhook"
    public static let summary = "The canonical referral v1 as a Standard Webhooks JSON event."
    public static let optionSpecs: [OptionSpec] = []

    public let mappedFields = Set(ReferralField.allCases)

    public init(setup: AdapterSetup) throws(AdapterOptionErrors) {
        try OptionReader(setup, specs: Self.optionSpecs).finish()
    }

    struct Envelope: Encodable {
        struct Payload: Encodable {
            var referralId: String
            var deliveryId: String
            var rule: String
            var referral: Referral
        }
        var type = "referral.routed"
        var timestamp: String
        var data: Payload
    }

    public func render(_ referral: Referral, context: DeliveryContext) throws -> OutboundRequest {
        let envelope = Envelope(
            timestamp: Timestamp.string(context.receivedAt),
            data: .init(referralId: context.referralId, deliveryId: context.deliveryId, rule: context.rule, referral: referral))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return OutboundRequest(body: Array(try encoder.encode(envelope)), contentType: "application/json")
    }

    public func interpret(_ reply: AgencyReply, context: DeliveryContext) -> DeliveryOutcome {
        struct Acknowledgement: Decodable { var reference: String? }
        let reference = (try? JSONDecoder().decode(Acknowledgement.self, from: Data(reply.body)))?.reference
        return HTTPReplyClassifier.classify(reply, agencyReference: reference)
    }
}
