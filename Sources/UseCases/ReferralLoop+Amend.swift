import Audit
import Foundation
import ReferralModel
import Routing
import Settings
import Storage

extension ReferralLoop {
    /// What an amendment came to.
    public struct Amended: Sendable, Codable, Equatable {
        public var referralId: ReferralID
        /// The JSON Pointers of the fields that changed.
        public var fields: [String]
        /// The agencies that have the referral and are sent the update through their own adapters.
        public var updating: [AgencyID]
    }

    /// The fields that decide where a referral goes and on what basis it is shared: an amendment may
    /// not change them. A referrer who needs another service, urgency or consent sends a new referral
    /// (and cancels this one), so routing and the consent decision are made afresh and audited.
    public static let fieldsNotAmendable: [String] = [
        "/needs", "/urgency", "/consent", "/safeguarding", "/referrer/organisation", "/referrer/organisationType",
    ]

    /// The referrer amends a referral that is still open: a JSON Merge Patch (RFC 7396) of the
    /// fields a referrer may change, validated with the rest of the referral as at intake (every
    /// problem at once, by pointer). The amended referral replaces the stored one; each agency that
    /// has it (delivered, accepted, or returned with a question) is sent the update through its own
    /// adapter (json-webhook `referral.updated`, FHIR reason `update`), and a delivery returned with
    /// a question goes back to its agency with a new deadline. Audited with the fields' pointers,
    /// never their values. Only the key that submitted it, or one for its organisation, may.
    public func amend<Body: Collection>(
        referralId: ReferralID, patch body: Body, actor: String, keyId: String? = nil, organisations: Set<String>?
    ) async throws -> Amended where Body.Element == UInt8 {
        let patch: JSONValue
        do {
            patch = try JSONParser.parse(body)
        } catch {
            throw ReferralIntake.Refusal.malformed(error.description)
        }
        return try await amend(referralId: referralId, document: patch, actor: actor, keyId: keyId, organisations: organisations)
    }

    /// Information governance corrects the person's details (the right to rectification), whoever
    /// sent the referral and however far along it is: a JSON Merge Patch of `subject` only,
    /// validated as an amendment is, sent to each agency that has it as an update, and audited with
    /// the reason (a case reference).
    public func rectify(referralId: ReferralID, subject: JSONValue, reason: String, actor: String) async throws -> Amended {
        try await amend(
            referralId: referralId, document: .object(JSONObject([(key: "subject", value: subject)])), actor: actor, keyId: nil, organisations: nil,
            rectifying: reason)
    }

    /// - Parameter answer: the referrer's answer in words, kept as a note with each delivery returned with a question.
    /// - Parameter rectifying: the reason, when information governance corrects the person's details.
    func amend(
        referralId: ReferralID, document patch: JSONValue, actor: String, keyId: String?, organisations: Set<String>?, answer: String? = nil,
        rectifying reason: String? = nil
    ) async throws -> Amended {
        guard Identifier.isWellFormed(referralId), let loop = try await store.loopReferral(referralId) else { throw Refusal.notFound }
        let own = loop.submittedBy == (keyId ?? actor) || (organisations?.contains(loop.referral.referrer.organisation) ?? false)
        guard own || reason != nil else { throw Refusal.notFound }
        let deliveries = loop.deliveries.filter { $0.notice == nil }
        // Still someone's to act on, or held for a person: a completed or closed referral is not
        // amended (its record may still be rectified).
        guard
            reason != nil || deliveries.isEmpty || deliveries.contains(where: \.state.isOpen)
                || deliveries.contains(where: { $0.state == .deadLettered })
        else {
            throw Refusal.notAlong(current: deliveries.last?.state ?? .withdrawn)
        }
        guard case .object(let members) = patch, !members.members.isEmpty else {
            throw ReferralIntake.Refusal.invalid([
                FieldIssue(
                    pointer: "",
                    detail:
                        "must be a JSON Merge Patch: an object naming the fields to change, for example {\"subject\": {\"phone\": \"01865 741166\"}}."
                )
            ])
        }
        let now = clock.now()
        let original = try JSONParser.parse(Array(loop.referral.canonicalJSON()))
        var merged = original.merging(patch)
        let changed = original.changedPointers(comparedWith: merged)
        // Removing a member the referral does not have changes nothing, but one it could never have
        // is a mistake to say, as intake would: decode the merge with a placeholder there to find out.
        let removingNothing = original.removalsOfNothing(in: patch)
        if !removingNothing.isEmpty {
            do {
                _ = try decoder.decode(original.merging(original.probing(patch)), today: CalendarDate.string(from: clock.now()), now: nil)
            } catch .invalid(let failure) {
                let unknown = failure.issues.filter { removingNothing.contains($0.pointer) && $0.detail.hasPrefix("is not a field") }
                guard unknown.isEmpty else { throw ReferralIntake.Refusal.invalid(unknown) }
            } catch {}
        }
        if reason != nil {
            let beyond = changed.filter { !$0.hasPrefix("/subject/") }
            guard beyond.isEmpty else {
                throw ReferralIntake.Refusal.invalid(
                    beyond.map { FieldIssue(pointer: $0, detail: "is not the person's details: a rectification changes subject only.") })
            }
        }
        let refused = changed.filter { pointer in Self.fieldsNotAmendable.contains { pointer == $0 || pointer.hasPrefix($0 + "/") } }
        guard refused.isEmpty else {
            throw ReferralIntake.Refusal.invalid(
                refused.map {
                    FieldIssue(
                        pointer: $0,
                        detail:
                            "cannot be amended: it decides where the referral goes or on what basis it is shared. Cancel this referral and send a new one."
                    )
                })
        }
        guard !changed.isEmpty else { throw ReferralIntake.Refusal.invalid([FieldIssue(pointer: "", detail: "changes nothing in the referral.")]) }
        // An unchanged respondBy is not checked against today: it was valid when sent, and may have passed since.
        let respondByChanged = changed.contains("/respondBy")
        if !respondByChanged, case .object(var object) = merged {
            object.members.removeAll { $0.key == "respondBy" }
            merged = .object(object)
        }
        var amended: Referral
        do {
            amended = try decoder.decode(merged, today: CalendarDate.string(from: now), now: respondByChanged ? now : nil)
        } catch .syntax(let error) {
            throw ReferralIntake.Refusal.malformed(error.description)
        } catch .invalid(let failure) {
            // What the amendment cannot touch was accepted when the referral was: a rule added since
            // (or a vocabulary changed) is no reason to refuse a new phone number.
            let own = failure.issues.filter { issue in
                !Self.fieldsNotAmendable.contains { issue.pointer == $0 || issue.pointer.hasPrefix($0 + "/") }
            }
            guard own.isEmpty, let lenient = try? ReferralDecoder.decodeStored(merged) else {
                throw ReferralIntake.Refusal.invalid(own.isEmpty ? failure.issues : own)
            }
            amended = lenient
        }
        if !respondByChanged { amended.respondBy = loop.referral.respondBy }
        let snapshot = rules.current.rules
        var change = LoopChange(referralId: referralId, at: now)
        change.amendedReferral = amended
        let holding = deliveries.filter { [.delivered, .accepted, .returned].contains($0.state) }
        for (offset, delivery) in holding.enumerated() {
            change.added.append(
                NewDelivery(
                    route: Route(
                        agency: delivery.agency, rule: "amendment", deliveryId: DeliveryID.make(now: now.addingTimeInterval(Double(offset) * 0.001))),
                    alternatives: [], needs: delivery.needs, deadlineAt: nil, parent: delivery.deliveryId,
                    notice: ReferralNotice(type: "referral.updated", about: delivery.deliveryId.rawValue)))
            if delivery.state == .returned {
                change.redelivered[delivery.deliveryId] = deadline(for: amended, agency: delivery.agency, from: now, rules: snapshot)
                if let answer {
                    change.notes.append(
                        ReferralNote(
                            id: Identifier.make(now: now.addingTimeInterval(Double(offset) * 0.001)), deliveryId: delivery.deliveryId,
                            at: Timestamp.string(now), author: actor, kind: "answer", text: answer))
                }
            }
        }
        change.audit.append(
            AuditNarrative.referralAmended(
                referralId: referralId, at: now, actor: actor, fields: changed, updating: holding.map(\.agency), note: nil, rectifying: reason))
        guard try await store.applyLoopChange(change) else { throw Refusal.notFound }
        if !holding.isEmpty { onRerouted() }
        return Amended(referralId: referralId, fields: changed, updating: holding.map(\.agency))
    }

    /// The referrer answers an agency's question in words (the web console's form): the answer is
    /// added to the referral's reason, with when it was added, and goes out like any amendment; it
    /// is also kept beside the question, so the agency that asked reads it even when its
    /// data-sharing agreement withholds the reason.
    /// - Parameter phone: a new phone number for the person, when the answer brings one.
    public func answerQuestion(
        referralId: ReferralID, answer: String, phone: String?, actor: String, keyId: String? = nil, organisations: Set<String>?
    ) async throws -> Amended {
        guard Identifier.isWellFormed(referralId), let loop = try await store.loopReferral(referralId) else { throw Refusal.notFound }
        let stamp = CalendarDate.string(from: clock.now())
        var subject: [(key: String, value: JSONValue)] = []
        if let phone { subject.append(("phone", .string(phone))) }
        var members: [(key: String, value: JSONValue)] = [("reason", .string(loop.referral.reason + "\n\nAdded on \(stamp): " + answer))]
        if !subject.isEmpty { members.append(("subject", .object(JSONObject(subject)))) }
        return try await amend(
            referralId: referralId, document: .object(JSONObject(members)), actor: actor, keyId: keyId, organisations: organisations,
            answer: answer)
    }
}
