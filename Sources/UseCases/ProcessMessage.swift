import BaRS
import Foundation
import ReferralModel
import Settings
import Storage

/// `$process-message`: a BaRS FHIR message in, through the same use cases as the JSON API. A
/// referrer's `servicerequest-request` with reason `new` is mapped to a referral and submitted as
/// at `POST /v1/referrals`; `update` amends it and `cancel` cancels it, with the same lifecycle
/// rules; an agency's `servicerequest-response` answers its delivery as `POST …/status` would.
/// Every refusal is an OperationOutcome's issues, each at the FHIR path it is about.
public struct ProcessMessage: Sendable {
    /// Who sent the message: the API key's facts.
    public struct Sender: Sendable {
        public var keyId: String
        public var role: Role
        public var organisations: Set<String>?
        public var agency: AgencyID?
        /// Who the audit trail names (the key's owner).
        public var actor: String
        public init(keyId: String, role: Role, organisations: Set<String>?, agency: AgencyID?, actor: String) {
            self.keyId = keyId
            self.role = role
            self.organisations = organisations
            self.agency = agency
            self.actor = actor
        }
    }

    /// What a message came to, for the reply.
    public struct Processed: Sendable {
        public var message: InboundMessage
        public var referralId: ReferralID
        /// The ServiceRequest's status as the gateway now holds it: `active`, `revoked` or `completed`.
        public var status: String
        /// True when a `new` message had been received before: nothing was stored again.
        public var replayed: Bool
    }

    let intake: ReferralIntake
    let loop: ReferralLoop
    let store: any ReferralStore & ReferralLoopStore
    let concepts: FHIRConceptMap
    let vocabulary: NeedsVocabulary
    let clock: any WallClock

    public init(
        intake: ReferralIntake, loop: ReferralLoop, store: any ReferralStore & ReferralLoopStore, concepts: FHIRConceptMap,
        vocabulary: NeedsVocabulary, clock: any WallClock = SystemClock()
    ) {
        self.intake = intake
        self.loop = loop
        self.store = store
        self.concepts = concepts
        self.vocabulary = vocabulary
        self.clock = clock
    }

    public func process(_ body: [UInt8], from sender: Sender, requestId: String?) async throws -> Processed {
        let message = try InboundMessage.parse(body)
        switch (message.event, sender.role) {
        case (.serviceRequestRequest, .referrer):
            switch message.reason {
            case .new: return try await submit(message, body: body, from: sender, requestId: requestId)
            case .update: return try await update(message, from: sender)
            case .cancel: return try await cancel(message, from: sender)
            }
        case (.serviceRequestResponse, .agency):
            return try await answer(message, from: sender)
        case (.serviceRequestRequest, _):
            throw OutcomeIssues([OutcomeIssue("forbidden", .forbidden, "A servicerequest-request is sent with a referrer's key.")])
        case (.serviceRequestResponse, _):
            throw OutcomeIssues([OutcomeIssue("forbidden", .forbidden, "A servicerequest-response is sent with the receiving agency's key.")])
        }
    }

    /// The idempotency key a sender's ServiceRequest is known by across its messages.
    static func requestKey(_ message: InboundMessage) -> String { "bars:\(message.serviceRequestKey)" }

    private func mapped(_ message: InboundMessage) throws(OutcomeIssues) -> ReferralMapping {
        try ReferralMapping.map(message, concepts: concepts, vocabulary: vocabulary, now: clock.now())
    }

    /// The Bundle is kept with the referral as it arrived.
    private func submit(_ message: InboundMessage, body: [UInt8], from sender: Sender, requestId: String?) async throws -> Processed {
        let mapping = try mapped(message)
        let words = "BaRS \(message.event.rawValue) (\(message.reason.rawValue)): \(mapping.summary)"
        do {
            let accepted = try await intake.submit(
                document: mapping.document, bytes: body.count, actor: sender.keyId, organisations: sender.organisations,
                idempotencyKey: Self.requestKey(message), requestId: requestId, mapping: words,
                original: OriginalMessage(mediaType: "application/fhir+json", body: body))
            return Processed(message: message, referralId: accepted.receipt.id, status: "active", replayed: accepted.replayed)
        } catch let refusal as ReferralIntake.Refusal {
            throw Self.issues(refusal, mapping: mapping, message: message)
        }
    }

    /// The stored referral a request message is about, or 404.
    private func existing(_ message: InboundMessage, from sender: Sender) async throws -> LoopReferral {
        guard let id = try await store.referralId(actor: sender.keyId, idempotencyKey: Self.requestKey(message)),
            let loop = try await store.loopReferral(id)
        else {
            throw OutcomeIssues([
                OutcomeIssue(
                    "not-found", .notFound, "No request with this ServiceRequest's identifier was received from this sender.",
                    at: "\(message.serviceRequest.path).identifier")
            ])
        }
        return loop
    }

    /// An update carries the request as it now stands: what a referrer may amend is amended; a
    /// change of needs, urgency or consent is refused (cancel and send a new request), as with the API.
    private func update(_ message: InboundMessage, from sender: Sender) async throws -> Processed {
        let current = try await existing(message, from: sender)
        let mapping = try mapped(message)
        let stored = JSONValue.fromCanonical(current.referral.canonicalJSON())
        var patch: [(key: String, value: JSONValue)] = []
        var refused: [OutcomeIssue] = []
        let storedMembers = Self.members(stored)
        for (key, value) in Self.members(mapping.document) {
            let before = storedMembers.first { $0.key == key }?.value
            if ReferralLoop.fieldsNotAmendable.contains("/\(key)") {
                if before != value {
                    refused.append(
                        OutcomeIssue(
                            "business-rule", .unprocessable,
                            "An update may not change the request's \(key): cancel it and send a new request, so it is routed afresh.",
                            at: mapping.expression(for: "/\(key)", fallback: message.serviceRequest.path)))
                }
                continue
            }
            if before != value { patch.append((key, Self.mergePatch(from: before, to: value))) }
        }
        // Referrer fields that decide who may send are not the update's to change either.
        patch = patch.map { member in
            guard member.key == "referrer", case .object(let fields) = member.value else { return member }
            return (member.key, .object(JSONObject(fields.members.filter { !["organisation", "organisationType"].contains($0.key) })))
        }
        guard refused.isEmpty else { throw OutcomeIssues(refused) }
        if !patch.isEmpty {
            do {
                _ = try await loop.amend(
                    referralId: current.referralId, document: .object(JSONObject(patch)), actor: sender.keyId, keyId: sender.keyId,
                    organisations: sender.organisations)
            } catch let refusal as ReferralIntake.Refusal {
                throw Self.issues(refusal, mapping: mapping, message: message)
            } catch let refusal as ReferralLoop.Refusal {
                throw Self.issues(refusal, message: message)
            }
        }
        return Processed(message: message, referralId: current.referralId, status: "active", replayed: patch.isEmpty)
    }

    private func cancel(_ message: InboundMessage, from sender: Sender) async throws -> Processed {
        let current = try await existing(message, from: sender)
        let note = message.serviceRequest.all("note").compactMap { $0.text("text") }.joined(separator: "\n")
        do {
            _ = try await loop.cancel(
                referralId: current.referralId, actor: sender.keyId, keyId: sender.keyId, organisations: sender.organisations,
                reason: note.isEmpty ? "cancelled by a BaRS message (ServiceRequest revoked)" : note)
        } catch let refusal as ReferralLoop.Refusal {
            throw Self.issues(refusal, message: message)
        }
        return Processed(message: message, referralId: current.referralId, status: "revoked", replayed: false)
    }

    private func answer(_ message: InboundMessage, from sender: Sender) async throws -> Processed {
        let answer = try AgencyAnswer.read(message)
        do {
            let answered = try await loop.answer(
                referralId: ReferralID(answer.referralId), agency: sender.agency, actor: sender.keyId,
                answer: ReferralLoop.Answer(rawValue: answer.answer) ?? .accepted, reason: answer.declineReason, text: answer.text,
                reference: answer.reference)
            return Processed(
                message: message, referralId: answered.referralId,
                status: ["declined": "revoked", "completed": "completed"][answer.answer] ?? "active", replayed: false)
        } catch let refusal as ReferralLoop.Refusal {
            throw Self.issues(refusal, message: message)
        }
    }
}
