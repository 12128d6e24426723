import Foundation
import Storage
import Testing

/// Console sessions, held by every store the same way: found by the cookie's digest while live,
/// their last sight recorded at most once a minute, forgotten when idle, too old or ended.
@Suite struct SessionStoreContractTests {
    let signedIn = Date(timeIntervalSince1970: 1_795_000_000)

    func session(_ digest: String, at: Date? = nil) -> StoredSession {
        StoredSession(
            digest: digest, keyDigest: Array(repeating: 7, count: 32), csrfToken: "csrf-\(digest)", signedInAt: at ?? signedIn,
            lastSeen: at ?? signedIn)
    }

    /// Resumes as the console does: idle 30 minutes, 8 hours long, touched after a minute.
    func resume(_ store: any SwitchboardStore, _ digest: String, after seconds: TimeInterval) async throws -> StoredSession? {
        let now = signedIn.addingTimeInterval(seconds)
        return try await store.resumeSession(
            digest: digest, now: now, touchBefore: now.addingTimeInterval(-60), idleBefore: now.addingTimeInterval(-1_800),
            signedInBefore: now.addingTimeInterval(-28_800))
    }

    @Test(arguments: StoreKind.allCases) func aSessionIsFoundWhileLiveAndItsLastSightMovesAtMostOnceAMinute(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        try await store.beginSession(session("aa"), forgettingIdleBefore: .distantPast, signedInBefore: .distantPast)
        #expect(try await resume(store, "aa", after: 0) == session("aa"))
        #expect(try await resume(store, "unknown", after: 0) == nil)
        #expect(try await resume(store, "aa", after: 30)?.lastSeen == signedIn, "within the minute, nothing is written")
        #expect(try await resume(store, "aa", after: 90)?.lastSeen == signedIn.addingTimeInterval(90))
        #expect(try await resume(store, "aa", after: 100)?.lastSeen == signedIn.addingTimeInterval(90))
        // Idle 29 minutes after the last sight: still live; it is the last sight that counts.
        #expect(try await resume(store, "aa", after: 90 + 29 * 60)?.csrfToken == "csrf-aa")
    }

    @Test(arguments: StoreKind.allCases) func anIdleOrTooOldSessionIsForgottenAndSoIsAnEndedOne(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        for digest in ["idle", "old", "ended", "live"] {
            try await store.beginSession(session(digest), forgettingIdleBefore: .distantPast, signedInBefore: .distantPast)
        }
        #expect(try await resume(store, "idle", after: 31 * 60) == nil)
        #expect(try await resume(store, "idle", after: 0) == nil, "an idle session, once found out, is gone")
        // Seen every 20 minutes for 8 hours: never idle, yet over at 8 hours.
        var at: TimeInterval = 0
        while at < 8 * 3_600 {
            #expect(try await resume(store, "old", after: at) != nil, "\(at)")
            at += 20 * 60
        }
        #expect(try await resume(store, "old", after: 8 * 3_600 + 1) == nil)
        try await store.endSession(digest: "ended")
        #expect(try await resume(store, "ended", after: 0) == nil)
        // A new sign-in forgets every session that has ended by then, found out or not.
        try await store.beginSession(
            session("new", at: signedIn.addingTimeInterval(3_600)), forgettingIdleBefore: signedIn.addingTimeInterval(1_800),
            signedInBefore: signedIn.addingTimeInterval(-28_800))
        #expect(try await resume(store, "live", after: 0) == nil, "idle for an hour when the new session began")
        #expect(try await resume(store, "new", after: 3_600) != nil)
    }

    @Test(arguments: StoreKind.allCases) func aNoticeIsKeptForTheSessionUntilCleared(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        try await store.beginSession(session("aa"), forgettingIdleBefore: .distantPast, signedInBefore: .distantPast)
        try await store.beginSession(session("bb"), forgettingIdleBefore: .distantPast, signedInBefore: .distantPast)
        try await store.setSessionNotice(digest: "aa", notice: "Deliveries to oxford-falls resumed.")
        try await store.setSessionNotice(digest: "nobody", notice: "lost")
        #expect(try await resume(store, "aa", after: 0)?.notice == "Deliveries to oxford-falls resumed.")
        #expect(try await resume(store, "bb", after: 0)?.notice == nil, "one session's notice is its own")
        try await store.setSessionNotice(digest: "aa", notice: nil)
        #expect(try await resume(store, "aa", after: 0)?.notice == nil)
    }
}
