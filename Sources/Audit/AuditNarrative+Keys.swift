import Foundation
import ReferralModel

extension AuditNarrative {
    /// A key was made: for whom, with what role and reach, until when. Never the key.
    public static func keyCreated(
        at: Date, actor: String, id: String, owner: String, role: String, organisations: [String]?, agency: String?, expiresAt: Date?
    ) -> AuditEntry {
        var reach = role
        if let organisations, !organisations.isEmpty { reach += " for " + organisations.joined(separator: ", ") }
        if let agency { reach += " answering for \(agency)" }
        let expiry = expiresAt.map { "; expires \(Timestamp.string($0))" } ?? "; no expiry"
        return AuditEntry(at: Timestamp.string(at), kind: .keyCreated, actor: actor, detail: "key \(id) (\(reach)) for \(owner)\(expiry)")
    }

    public static func keyRevoked(at: Date, actor: String, id: String, owner: String) -> AuditEntry {
        AuditEntry(at: Timestamp.string(at), kind: .keyRevoked, actor: actor, detail: "key \(id) of \(owner) revoked; it is refused from now")
    }

    /// A key was given a new secret; the old one is accepted until `previousUntil`.
    public static func keyRotated(at: Date, actor: String, id: String, owner: String, previousUntil: Date) -> AuditEntry {
        let overlap =
            previousUntil > at ? "the old secret is accepted until \(Timestamp.string(previousUntil))" : "the old secret is refused from now"
        return AuditEntry(at: Timestamp.string(at), kind: .keyRotated, actor: actor, detail: "key \(id) of \(owner) has a new secret; \(overlap)")
    }

    /// A key's holder set their console password. Neither the password nor its hash is recorded.
    public static func keyPasswordSet(at: Date, actor: String, id: String, replaced: Bool) -> AuditEntry {
        AuditEntry(
            at: Timestamp.string(at), kind: .keyPasswordSet, actor: actor,
            detail: "console password for key \(id) \(replaced ? "changed" : "set") by its holder")
    }

    /// A key's holder signed in to the web console, with the key itself or with their password.
    public static func consoleSignedIn(at: Date, actor: String, id: String, withPassword: Bool) -> AuditEntry {
        AuditEntry(
            at: Timestamp.string(at), kind: .consoleSignedIn, actor: actor,
            detail: "signed in to the web console as key \(id), with \(withPassword ? "their password" : "the key")")
    }

    /// switchboard.yaml's keys were read again (SIGHUP): which were added and which removed.
    public static func keysReloaded(at: Date, count: Int, added: [String], removed: [String], changed: [String]) -> AuditEntry {
        var parts = ["\(count) keys in switchboard.yaml"]
        if !added.isEmpty { parts.append("added: " + added.joined(separator: ", ")) }
        if !removed.isEmpty { parts.append("removed, and refused from now: " + removed.joined(separator: ", ")) }
        if !changed.isEmpty { parts.append("changed: " + changed.joined(separator: ", ")) }
        if added.isEmpty, removed.isEmpty, changed.isEmpty { parts.append("no change") }
        return AuditEntry(at: Timestamp.string(at), kind: .keysReloaded, actor: "SIGHUP", detail: parts.joined(separator: "; "))
    }
}

extension AuditNarrative {
    /// Someone signed in to the console through the identity provider: who (the provider's subject), as what, and which provider.
    public static func consoleSignedIn(at: Date, actor: String, person: String, role: String, issuer: String) -> AuditEntry {
        AuditEntry(
            at: Timestamp.string(at), kind: .consoleSignedIn, actor: actor,
            detail: "signed in to the web console as \(person) (\(role)) through the identity provider \(issuer)")
    }
}
