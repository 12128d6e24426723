import Audit
import Foundation

extension InMemoryStore {
    public func managedKeys() -> [ManagedKey] {
        keys.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
    }

    public func createKey(_ key: ManagedKey, audit: AuditEntry) -> Bool {
        guard !keys.contains(where: { $0.id == key.id }) else { return false }
        keys.append(key)
        append([audit])
        return true
    }

    public func revokeKey(id: String, at: Date, by: String, audit: @escaping @Sendable (ManagedKey) -> AuditEntry) -> ManagedKey? {
        guard let index = keys.firstIndex(where: { $0.id == id && $0.revokedAt == nil }) else { return nil }
        keys[index].revokedAt = at
        keys[index].revokedBy = by
        append([audit(keys[index])])
        return keys[index]
    }

    public func rotateKey(
        id: String, digest: [UInt8], at: Date, previousValidUntil: Date, audit: @escaping @Sendable (ManagedKey) -> AuditEntry
    ) -> ManagedKey? {
        guard
            let index = keys.firstIndex(where: { $0.id == id && $0.revokedAt == nil && ($0.expiresAt.map { $0 > at } ?? true) })
        else { return nil }
        keys[index].previousDigest = keys[index].digest
        keys[index].previousExpiresAt = previousValidUntil
        keys[index].digest = digest
        append([audit(keys[index])])
        return keys[index]
    }

    public func consolePassword(keyId: String) -> String? { consolePasswords[keyId] }

    public func setConsolePassword(keyId: String, hash: String, at: Date, audit: AuditEntry) {
        consolePasswords[keyId] = hash
        append([audit])
    }
}

extension InMemoryStore {
    public func recordWebhook(keyId: String, webhookId: String, at: Date, forgetBefore: Date) -> Bool {
        webhookReceipts = webhookReceipts.filter { $0.value >= forgetBefore }
        let key = "\(keyId)\u{0}\(webhookId)"
        guard webhookReceipts[key] == nil else { return false }
        webhookReceipts[key] = at
        return true
    }
}

extension InMemoryStore {
    public func beginSession(_ session: StoredSession, forgettingIdleBefore idleBefore: Date, signedInBefore: Date) {
        sessions = sessions.filter { $0.value.lastSeen >= idleBefore && $0.value.signedInAt >= signedInBefore }
        sessions[session.digest] = session
    }

    public func resumeSession(digest: String, now: Date, touchBefore: Date, idleBefore: Date, signedInBefore: Date) -> StoredSession? {
        guard var session = sessions[digest] else { return nil }
        guard session.lastSeen >= idleBefore, session.signedInAt >= signedInBefore else {
            sessions[digest] = nil
            return nil
        }
        if session.lastSeen < touchBefore {
            session.lastSeen = now
            sessions[digest] = session
        }
        return session
    }

    public func setSessionNotice(digest: String, notice: String?) {
        sessions[digest]?.notice = notice
    }

    public func endSession(digest: String) {
        sessions[digest] = nil
    }
}
