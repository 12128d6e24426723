import Audit
import Foundation
import GRDB
import PostgresStorage
import ReferralModel
import Storage
import SwitchboardTesting
import Testing

/// A person whose name and NHS number appear nowhere else, so finding either in a file's bytes
/// means it was stored in plaintext.
let sealedName = "Quenby-Marchetti"
let sealedNHSNumber = "9990000034"

func testKey(_ byte: UInt8 = 7) throws -> KeyEncryptionKey { try KeyEncryptionKey(bytes: Array(repeating: byte, count: 32)) }

/// A referral about that person, with the message it came as.
func sealableRecord(at: Date = Date(), agency: AgencyID = "spa") -> IntakeRecord {
    var referral = sampleReferral()
    referral.subject.familyName = sealedName
    referral.subject.nhsNumber = sealedNHSNumber
    var intake = record(agencies: [agency], at: at)
    intake.referral = referral
    intake.original = OriginalMessage(mediaType: "application/fhir+json", body: Array("{\"family\":\"\(sealedName)\"}".utf8))
    return intake
}

/// Stores a referral about that person, a note about them, and an agency's reply naming them.
func storePersonalData(in store: any SwitchboardStore) async throws -> IntakeRecord {
    let intake = sealableRecord()
    _ = try await store.accept(intake)
    var change = LoopChange(referralId: intake.referralId, at: Date())
    change.notes = [
        ReferralNote(
            id: "note-\(intake.referralId)", deliveryId: nil, at: Timestamp.string(Date()), author: "spa", kind: "note",
            text: "Spoke to \(sealedName) at home")
    ]
    #expect(try await store.applyLoopChange(change))
    let lease = try #require(try await store.lease(now: Date().addingTimeInterval(1), limit: 10, agencies: ["spa"]).first)
    let recorded = try await store.finish([
        DeliveryCompletion(lease: lease, result: .deadLetter(error: "HTTP 400"), audit: [], at: Date(), agencyReply: "no such patient \(sealedName)")
    ])
    #expect(recorded == [true])
    return intake
}

/// Everything about that person reads back as it was stored.
func expectPersonalDataReadsBack(_ intake: IntakeRecord, from store: any SwitchboardStore) async throws {
    let loop = try #require(try await store.loopReferral(intake.referralId))
    #expect(loop.referral.subject.familyName == sealedName)
    #expect(loop.referral.subject.nhsNumber == sealedNHSNumber)
    #expect(try await store.notes(referralId: intake.referralId).map(\.text) == ["Spoke to \(sealedName) at home"])
    #expect(try await store.report(referralId: intake.referralId)?.notes?.first?.text == "Spoke to \(sealedName) at home")
    #expect(try await store.originalMessage(referralId: intake.referralId)?.body == intake.original?.body)
    #expect(try await store.deadLetters(agency: "spa", limit: 10).map(\.agencyReply) == ["no such patient \(sealedName)"])
}

/// Whether any of the files holds the person's name or NHS number.
func plaintextFound(in paths: [String]) -> Bool {
    paths.contains { path in
        guard let bytes = FileManager.default.contents(atPath: path) else { return false }
        return bytes.range(of: Data(sealedName.utf8)) != nil || bytes.range(of: Data(sealedNHSNumber.utf8)) != nil
    }
}

@Suite struct SealedRecordTests {
    @Test func withEncryptionTheFileItsWALAndABackupHoldNoPersonalDataInPlaintextAndEverythingReadsBack() async throws {
        let path = temporaryDatabase()
        let store = try SQLiteStore(path: path, encryption: try testKey())
        let intake = try await storePersonalData(in: store)
        try await expectPersonalDataReadsBack(intake, from: store)
        #expect(!plaintextFound(in: [path, path + "-wal"]))
        let backup = temporaryDatabase()
        try FileManager.default.createDirectory(at: URL(fileURLWithPath: backup).deletingLastPathComponent(), withIntermediateDirectories: true)
        _ = try await store.backup(to: backup)
        #expect(!plaintextFound(in: [backup]))
        try await expectPersonalDataReadsBack(intake, from: try SQLiteStore(path: backup, encryption: try testKey()))
        #expect(try await store.verifyAudit().isIntact)

        // The same search finds them in a store without encryption: it would see them if they were there.
        let plainPath = temporaryDatabase()
        let plain = try SQLiteStore(path: plainPath)
        try await expectPersonalDataReadsBack(try await storePersonalData(in: plain), from: plain)
        #expect(plaintextFound(in: [plainPath, plainPath + "-wal"]))
    }

    @Test func aWrongOrMissingKeyStopsTheStoreOpeningWithASentence() async throws {
        let path = temporaryDatabase()
        _ = try await storePersonalData(in: try SQLiteStore(path: path, encryption: try testKey()))
        #expect {
            try SQLiteStore(path: path)
        } throws: { error in
            "\(error)".contains("this database is encrypted") && "\(error)".contains("storage.encryption")
        }
        #expect {
            try SQLiteStore(path: path, encryption: try testKey(9))
        } throws: { error in
            "\(error)".contains("not the key given")
        }
    }

    @Test func aDatabaseWrittenWithoutEncryptionIsSealedInPlaceAndWhatAStopLeftIsSealedAtTheNextStart() async throws {
        let path = temporaryDatabase()
        let plain = try SQLiteStore(path: path)
        let first = try await storePersonalData(in: plain)
        var others: [ReferralID] = []
        for _ in 0..<450 {
            let intake = sealableRecord(agency: "falls")
            _ = try await plain.accept(intake)
            others.append(intake.referralId)
        }
        #expect(plaintextFound(in: [path, path + "-wal"]))
        let sealed = try SQLiteStore(path: path, encryption: try testKey())
        try await expectPersonalDataReadsBack(first, from: sealed)
        let unsealed = try await DatabaseQueue(path: path).read {
            try Int.fetchOne($0, sql: "SELECT count(*) FROM referrals WHERE sealed_key IS NULL OR person_index IS NULL")
        }
        #expect(unsealed == 0)
        // A start stopped part-way leaves some rows as they were: the next start seals them.
        let leftover = try #require(others.last)
        try await DatabaseQueue(path: path).write { db in
            try db.execute(
                sql: "UPDATE referrals SET body = ?, data_key = NULL, sealed_key = NULL WHERE id = ?",
                arguments: [sealableRecord().referral.canonicalJSON(), leftover])
        }
        let restarted = try SQLiteStore(path: path, encryption: try testKey())
        #expect(try await restarted.loopReferral(leftover)?.referral.subject.familyName == sealedName)
        try await DatabaseQueue(path: path).writeWithoutTransaction { try $0.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE); VACUUM") }
        #expect(!plaintextFound(in: [path, path + "-wal"]))
        #expect(try await restarted.verifyAudit().isIntact)
    }

    @Test func rotatingTheKeyKeepsARunningStoreWorkingAndOnlyTheNewKeyOpensItAfterwards() async throws {
        let path = temporaryDatabase()
        let store = try SQLiteStore(path: path, encryption: try testKey())
        let intake = try await storePersonalData(in: store)
        #expect(try await store.rotateKey(to: try testKey(8), from: try testKey()) == 2)
        // The running store still holds its data keys: it reads and writes as before.
        try await expectPersonalDataReadsBack(intake, from: store)
        let after = sealableRecord(agency: "falls")
        _ = try await store.accept(after)
        #expect(throws: RecordSealingProblem.self) { try SQLiteStore(path: path, encryption: try testKey()) }
        let reopened = try SQLiteStore(path: path, encryption: try testKey(8))
        try await expectPersonalDataReadsBack(intake, from: reopened)
        #expect(try await reopened.loopReferral(after.referralId)?.referral.subject.familyName == sealedName)
        #expect(try await reopened.rotateKey(to: try testKey(8), from: try testKey(8)) == 0)
    }

    @Test func aSealedValueMovedToAnotherRowDoesNotOpen() async throws {
        let path = temporaryDatabase()
        let store = try SQLiteStore(path: path, encryption: try testKey())
        let intake = try await storePersonalData(in: store)
        var change = LoopChange(referralId: intake.referralId, at: Date())
        change.notes = [
            ReferralNote(id: "second", deliveryId: nil, at: Timestamp.string(Date()), author: "spa", kind: "note", text: "nothing much")
        ]
        #expect(try await store.applyLoopChange(change))
        try await DatabaseQueue(path: path).write { db in
            try db.execute(
                sql: "UPDATE referral_notes SET text = (SELECT text FROM referral_notes WHERE id = ?) WHERE id = 'second'",
                arguments: ["note-\(intake.referralId)"])
        }
        await #expect(throws: (any Error).self) { try await store.notes(referralId: intake.referralId) }
    }

    @Test func theLandedVersionsDatabaseIsSealedInPlaceAndStillReadsAndVerifies() async throws {
        let path = try copyOfFixtureDatabase("landed-2026-12")
        let words = Data("Caller describes escalating distress".utf8)
        #expect(FileManager.default.contents(atPath: path)?.range(of: words) != nil, "the landed version stored it in plaintext")
        let store = try SQLiteStore(path: path, encryption: try testKey())
        let rows = try DatabaseQueue(path: path).read { try Row.fetchAll($0, sql: "SELECT id, body, pruned_at FROM referrals") }
        #expect(rows.count == 7)
        for row in rows where (row["pruned_at"] as Double?) == nil {
            #expect(ReferralKey.isSealed(row["body"] as Data))
            let id: ReferralID = row["id"]
            #expect(try await store.loopReferral(id) != nil)
            #expect(try await store.report(referralId: id) != nil)
        }
        #expect(try await store.verifyAudit().isIntact)
        try await DatabaseQueue(path: path).writeWithoutTransaction { try $0.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE); VACUUM") }
        #expect(FileManager.default.contents(atPath: path)?.range(of: words) == nil)
    }

    @Test func theLastLandedVersionsDatabaseIsSealedInPlaceWithItsAgenciesRepliesAndStillVerifies() async throws {
        let path = try copyOfFixtureDatabase("landed-2026-12-07")
        let plain = try SQLiteStore(path: path)
        let replies = try await plain.deadLetters(agency: nil, limit: 10).map(\.agencyReply)
        #expect(replies.count == 2 && replies.allSatisfy { $0 != nil }, "the landed version kept what the agency answered")
        let store = try SQLiteStore(path: path, encryption: try testKey())
        #expect(try await store.deadLetters(agency: nil, limit: 10).map(\.agencyReply) == replies)
        let stored = try await DatabaseQueue(path: path).read {
            try String.fetchAll($0, sql: "SELECT agency_reply FROM deliveries WHERE agency_reply IS NOT NULL")
        }
        #expect(stored.count == 2 && stored.allSatisfy(ReferralKey.isSealed))
        let ids = try await DatabaseQueue(path: path).read { try ReferralID.fetchAll($0, sql: "SELECT id FROM referrals") }
        for id in ids { #expect(try await store.loopReferral(id) != nil) }
        #expect(try await store.referralIds(about: .nhsNumber("999 000 0018")).count == 2, "found by the indexes made at start")
        #expect(try await store.verifyAudit().isIntact)
    }

    @Test func postgresRotatesTheKeyWhileAGatewayRunsAndOnlyTheNewKeyOpensItAfterwards() async throws {
        let server = try await TestPostgres.shared()
        let database = try await server.makeDatabase()
        func open(_ key: KeyEncryptionKey) throws -> PostgresStore {
            try PostgresStore(
                options: .init(
                    host: "127.0.0.1", port: server.port, user: server.user, database: database.name, poolSize: 2,
                    connectTimeout: TestPostgres.connectTimeout), encryption: key)
        }
        let running = try open(try testKey())
        let intake = try await storePersonalData(in: running)
        #expect(try await running.rotateKey(to: try testKey(8), from: try testKey()) == 2)
        try await expectPersonalDataReadsBack(intake, from: running)
        await #expect(throws: RecordSealingProblem.self) { try await open(try testKey()).lastRetentionRun() }
        try await expectPersonalDataReadsBack(intake, from: try open(try testKey(8)))
    }

    @Test func postgresTableDataHoldsNoPersonalDataInPlaintextWithEncryption() async throws {
        let server = try await TestPostgres.shared()
        for encrypted in [true, false] {
            let database = try await server.makeDatabase()
            let store = try PostgresStore(
                options: .init(
                    host: "127.0.0.1", port: server.port, user: server.user, database: database.name, poolSize: 4,
                    connectTimeout: TestPostgres.connectTimeout),
                encryption: encrypted ? try testKey() : nil)
            let intake = try await storePersonalData(in: store)
            try await expectPersonalDataReadsBack(intake, from: store)
            _ = try await server.psql("CHECKPOINT", database: database.name)
            let oid = try await server.psql("SELECT oid FROM pg_database WHERE datname = '\(database.name)'", database: database.name)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let folder = "\(server.directory)/data/base/\(oid)"
            let files = try FileManager.default.contentsOfDirectory(atPath: folder).map { "\(folder)/\($0)" }
            #expect(plaintextFound(in: files) == !encrypted, encrypted ? "sealed" : "the control: plaintext is found when it is there")
            store.close()
        }
    }
}

extension AuditChain.Verdict {
    var isIntact: Bool { if case .intact = self { true } else { false } }
}
