import Audit
import Foundation
import ReferralModel
import Testing

/// Every sentence the audit trail carries, worded in one place and read here once.
@Suite struct AuditNarrativeTests {
    let at = Date(timeIntervalSince1970: 1_795_000_000)
    let delivery = AuditNarrative.DeliveryReference(referralId: "r1", deliveryId: "d1", agency: "spa")

    @Test func everyKindHasItsSentence() {
        let entries: [AuditEntry] = [
            AuditNarrative.referralReceived(referralId: "r1", actor: "gp", at: at, organisation: "A81001", bytes: 812),
            AuditNarrative.referralValidated(referralId: "r1", actor: "gp", at: at),
            AuditNarrative.referralRouted(
                referralId: "r1", actor: "gp", at: at, rulesVersion: "sha256:abc", matchedRules: ["falls", "care"], usedFallback: false,
                to: [.init(agency: "falls", rule: "falls", alternatives: []), .init(agency: "charity", rule: "care", alternatives: ["spa"])]),
            AuditNarrative.referralWithheld(referralId: "r1", actor: "gp", at: at, agency: "charity", rule: "care", reason: "consent refused"),
            AuditNarrative.referralRefused(actor: "gp", at: at, claimedOrganisation: "QVV", allowed: ["B81002", "A81001"]),
            AuditNarrative.deliveryAttempted(
                delivery, at: at, attempt: 2, of: 12, ending: .willRetry(reason: "HTTP 503", nextAttempt: at.addingTimeInterval(4)),
                milliseconds: 31, fieldsSent: ["/needs", "/subject/nhsNumber"]),
            AuditNarrative.deliveryDelivered(delivery, at: at, referenceLength: 9),
            AuditNarrative.deliveryDeadLettered(delivery, at: at, reason: "HTTP 422: the agency refused the request"),
            AuditNarrative.authenticationRefused(
                at: at, source: "203.0.113.9", minuteStart: at, reasons: ["unknown API key": 30, "no Authorization header": 2], limited: 12),
            AuditNarrative.gatewayStarted(at: at, rulesVersion: "sha256:abc", agencies: 5),
            AuditNarrative.rulesApplied(
                at: at, actor: "admin", number: 2, version: "sha256:def", replacing: "sha256:abc", note: "through the API", ruleCount: 5,
                fallback: "spa", summary: "rules changed: care", textDigest: "00ff"),
            AuditNarrative.rulesRejected(
                at: at, file: "rules.yaml", trigger: "SIGHUP", problems: 2, firstProblem: "rules.yaml:4:15: unknown agency 'x'",
                liveVersion: "sha256:abc"),
            AuditNarrative.deliveryRequeued(delivery, at: at, by: "ops", attempts: 12),
            AuditNarrative.circuitOpened(
                agency: "spa", at: at, why: "5 failed attempts in a row", reason: "HTTP 503", until: at.addingTimeInterval(30)),
            AuditNarrative.circuitHalfOpen(agency: "spa", at: at),
            AuditNarrative.circuitClosed(agency: "spa", at: at),
            AuditNarrative.agencyDisabled(agency: "spa", at: at, reason: "HTTP 410 Gone"),
            AuditNarrative.agencyPaused(agency: "spa", at: at, by: "ops", reason: "case system upgrade"),
            AuditNarrative.agencyResumed(agency: "spa", at: at, by: "ops", was: "paused"),
            AuditNarrative.agencyPinged(agency: "spa", at: at, by: "ops", outcome: "accepted", status: 204, milliseconds: 12),
            AuditNarrative.deadLettersRead(at: at, by: "ops", agency: nil, count: 3),
            AuditNarrative.referralHeld(referralId: "r1", actor: "gp", at: at, rulesVersion: "sha256:abc"),
            AuditNarrative.directoryImported(
                at: at, actor: "admin", source: "ONSPD_NOV_2025_UK.csv", postcodes: 1_790_000, localAuthorities: 361, replacing: nil),
            AuditNarrative.agenciesApplied(
                at: at, actor: "admin-b", number: 3, version: "sha256:def", replacing: "sha256:abc",
                note: "proposal p1 by admin-a, approved by admin-b",
                agencyCount: 6, summary: "agencies added: carers-hub", textDigest: "00ff"),
            AuditNarrative.changeProposed(
                at: at, actor: "admin-a", document: "agencies", proposal: "p1", baseVersion: "sha256:abc", version: "sha256:def",
                summary: "agencies added: carers-hub"),
            AuditNarrative.changeApproved(
                at: at, actor: "admin-b", document: "agencies", proposal: "p1", proposedBy: "admin-a", version: "sha256:def"),
            AuditNarrative.changeRejected(at: at, actor: "admin-b", document: "rules", proposal: "p2", proposedBy: "admin-a"),
            AuditNarrative.changeSuperseded(
                at: at, actor: "admin-b", document: "rules", proposal: "p3", baseVersion: "sha256:abc", live: "sha256:123"),
            AuditNarrative.referralAnswered(delivery, at: at, actor: "spa-key", state: .accepted, reason: nil, note: nil),
            AuditNarrative.referralAnswered(delivery, at: at, actor: "spa-key", state: .declined, reason: .noCapacity, note: "n1"),
            AuditNarrative.referralAnswered(delivery, at: at, actor: "spa-key", state: .completed, reason: nil, note: nil),
            AuditNarrative.referralRerouted(
                referralId: "r1", deliveryId: "d2", at: at, actor: "spa-key", from: "spa", to: "mash", why: "declined by spa",
                rule: "care:alternative",
                rulesVersion: "sha256:abc"),
            AuditNarrative.answerRefused(
                referralId: "r1", at: at, actor: "falls-key", agency: "falls", why: "falls tried to answer accepted for a referral it was not sent"),
            AuditNarrative.deliveryOverdue(delivery, at: at, deadline: at, state: .delivered),
            AuditNarrative.attentionOpened(
                referralId: "r1", item: "a1", at: at, actor: "deadlines", why: "spa missed its deadline, and no alternative or fallback is left"),
            AuditNarrative.attentionResolved(referralId: "r1", item: "a1", at: at, actor: "admin", resolution: "rerouted to mash"),
            AuditNarrative.referralViewed(referralId: "r1", at: at, actor: "spa-key", as: "as sent to spa (agency key)"),
            AuditNarrative.referralsPruned(at: at, actor: "admin", count: 12, before: at),
            AuditNarrative.referralCancelled(referralId: "r1", at: at, actor: "gp", told: ["spa"], withdrawn: 2, note: "n2"),
            AuditNarrative.keyCreated(
                at: at, actor: "Alex Admin", id: "botley", owner: "Botley reception", role: "referrer", organisations: ["K84001"], agency: nil,
                expiresAt: at),
            AuditNarrative.keyRevoked(at: at, actor: "Alex Admin", id: "botley", owner: "Botley reception"),
            AuditNarrative.keyRotated(at: at, actor: "Alex Admin", id: "botley", owner: "Botley reception", previousUntil: at.addingTimeInterval(60)),
            AuditNarrative.keysReloaded(at: at, count: 3, added: ["new-gp"], removed: ["old-gp"], changed: []),
            AuditNarrative.keyPasswordSet(at: at, actor: "Botley reception", id: "botley", replaced: false),
            AuditNarrative.consoleSignedIn(at: at, actor: "Botley reception", id: "botley", withPassword: true),
            AuditNarrative.referralRedirected(
                referralId: "r1", deliveryId: "d2", actor: "gp", at: at, from: "crisis", to: "home-treatment", rule: "crisis:alternative",
                why: "crisis paused by ops (planned upgrade)"),
            AuditNarrative.deliveryWithdrawn(delivery, at: at, actor: "deadlines", why: "spa missed its deadline; re-routed to mash", told: true),
            AuditNarrative.referralClosedForService(delivery, at: at, actor: "spa-key", reason: .personDeclined, needs: ["befriending"]),
            AuditNarrative.referralReturned(delivery, at: at, actor: "spa-key", note: "n3"),
            AuditNarrative.referralAmended(
                referralId: "r1", at: at, actor: "gp", fields: ["/reason", "/subject/phone"], updating: ["spa"], note: nil),
            AuditNarrative.inboxViewed(agency: "spa", at: at, actor: "Cy at the council", count: 12),
            AuditNarrative.referralMapped(
                referralId: "r1", actor: "gp", at: at, mapping: "BaRS servicerequest-request (new): 111111111 → need mental-health-crisis"),
            AuditNarrative.recordsSearched(at: at, by: "ig-lead", searchedBy: "nhsNumber", reason: "SAR-2026-114", found: 2),
            AuditNarrative.erasureRequested(referralId: "r1", at: at, by: "ig-lead", reason: "ERASE-2026-3", safeguarding: ["mash"]),
            AuditNarrative.referralErased(referralId: "r1", at: at, by: "ig-deputy", reason: "ERASE-2026-3", approvedBy: "ig-lead", withdrawn: 1),
        ]
        #expect(Set(entries.map(\.kind)) == Set(AuditKind.allCases), "every kind is worded here")
        #expect(entries.allSatisfy { $0.at == "2026-11-18T11:06:40.000Z" })
        #expect(
            entries.map(\.detail) == [
                "from A81001; 812 bytes",
                "valid against referral v1",
                "rules version sha256:abc; rules falls, care; to falls (falls), charity (care; if it declines: spa)",
                "withheld from charity (rule care): consent refused; shared only with safeguarding recipients",
                "the key may not submit for organisation QVV; it may for A81001, B81002",
                "attempt 2 of 12: HTTP 503 after 31 ms; next attempt at 2026-11-18T11:06:44.000Z; fields sent: /needs, /subject/nhsNumber",
                "agency reference recorded (9 characters)",
                "HTTP 422: the agency refused the request",
                "32 requests from 203.0.113.9 refused in the minute from 2026-11-18T11:06 UTC: 30 unknown API key, 2 no Authorization header; 12 answered 429 because the address was over its allowance of refusals",
                "rules version sha256:abc; 5 agencies",
                "version 2 (sha256:def) replaces sha256:abc; through the API; 5 rules, fallback spa; rules changed: care; text sha256 00ff",
                "rules.yaml (SIGHUP) refused with 2 problems; first: rules.yaml:4:15: unknown agency 'x'; version sha256:abc stays live",
                "dead letter put back in the queue after 12 attempts; due now with its attempts reset",
                "5 failed attempts in a row, the last HTTP 503; nothing is sent until a probe at 2026-11-18T11:07:10.000Z; jobs wait without using attempts",
                "one delivery probes the agency",
                "the agency answered; deliveries flow again",
                "HTTP 410 Gone; its jobs stay queued until an operator resumes the agency",
                "deliveries paused: case system upgrade",
                "deliveries resumed (it was paused); circuit closed",
                "test delivery (no personal data) accepted with HTTP 204 in 12 ms",
                "3 dead letters read with the agencies' replies, every agency",
                "rules version sha256:abc; the subject's postcode is outside the service area and no agency takes referrals from elsewhere: held, sent to no one",
                "postcode directory ONSPD_NOV_2025_UK.csv: 1790000 postcodes in 361 local authorities, the first imported",
                "version 3 (sha256:def) replaces sha256:abc; proposal p1 by admin-a, approved by admin-b; 6 agencies; agencies added: carers-hub; text sha256 00ff",
                "agencies proposal p1: sha256:def over sha256:abc; agencies added: carers-hub; awaits a second administrator",
                "agencies proposal p1 by admin-a approved by admin-b; sha256:def is live",
                "rules proposal p2 by admin-a rejected by admin-b",
                "rules proposal p3 was made against sha256:abc, but sha256:123 is live: it can no longer apply",
                "accepted",
                "declined (no-capacity); explanation in note n1",
                "completed",
                "from spa to mash (declined by spa); rule care:alternative, rules version sha256:abc; consent and minimum necessary applied",
                "falls tried to answer accepted for a referral it was not sent",
                "not taken on by 2026-11-18T11:06:40.000Z (still delivered)",
                "item a1: spa missed its deadline, and no alternative or fallback is left",
                "item a1 rerouted to mash",
                "read as sent to spa (agency key)",
                "12 closed referrals received before 2026-11-18T11:06:40.000Z: personal data and notes removed; ids, deliveries and events kept",
                "cancelled by the referrer; 2 deliveries withdrawn; telling spa; reason in note n2",
                "key botley (referrer for K84001) for Botley reception; expires 2026-11-18T11:06:40.000Z",
                "key botley of Botley reception revoked; it is refused from now",
                "key botley of Botley reception has a new secret; the old secret is accepted until 2026-11-18T11:07:40.000Z",
                "3 keys in switchboard.yaml; added: new-gp; removed, and refused from now: old-gp",
                "console password for key botley set by its holder",
                "signed in to the web console as key botley, with their password",
                "crisis paused by ops (planned upgrade): sent to home-treatment instead of crisis (rule crisis:alternative)",
                "withdrawn from spa (spa missed its deadline; re-routed to mash); the agency is sent referral.withdrawn",
                "the person declined the service (befriending): their details are sent nowhere else for it",
                "returned to the referrer by spa for more information; its question is note n3",
                "amended: /reason, /subject/phone; the update goes to spa",
                "listed 12 referrals in the web inbox of spa, with name, age and needs",
                "BaRS servicerequest-request (new): 111111111 → need mental-health-crisis",
                "subject access search by nhsNumber for 'SAR-2026-114': 2 referrals found",
                "erasure asked for ('ERASE-2026-3'); safeguarding still open with mash: a second person must approve",
                "personal data erased ('ERASE-2026-3'); asked for by ig-lead, approved by ig-deputy; 1 delivery not yet made withdrawn",
            ])
        #expect(entries[5].actor == "dispatcher" && entries[5].deliveryId == "d1" && entries[5].agency == "spa")
    }

    @Test func theFallbackAndAnAgencyWithoutAReferenceAreSaidPlainly() {
        let routed = AuditNarrative.referralRouted(
            referralId: "r1", actor: "gp", at: at, rulesVersion: "v", matchedRules: [], usedFallback: true,
            to: [.init(agency: "spa", rule: "fallback", alternatives: [])])
        #expect(routed.detail == "rules version v; no rule matched; fallback; to spa (fallback)")
        #expect(AuditNarrative.deliveryDelivered(delivery, at: at, referenceLength: nil).detail == "delivered")
        #expect(
            AuditNarrative.deliveryAttempted(delivery, at: at, attempt: 1, of: 3, ending: .delivered, milliseconds: 4, fieldsSent: []).detail
                == "attempt 1 of 3: delivered in 4 ms; fields sent: ")
    }
}
