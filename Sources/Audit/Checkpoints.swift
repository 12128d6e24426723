import Crypto
import Foundation
import ReferralModel

/// The chain's head, anchored outside the database. A hash chain alone shows an edited or deleted
/// event in the middle, but not the newest events deleted, nor a chain rewritten and rehashed by
/// someone with write access to the database. So the gateway writes its head (sequence and hash)
/// to an append-only checkpoint file, each line signed (HMAC-SHA256) with a key the database does
/// not hold; `audit verify` checks the chain against every checkpoint and names what is missing or
/// rewritten.
public struct AuditCheckpoint: Sendable, Equatable, Codable {
    public var sequence: Int64
    public var hash: String
    public var at: String
    /// Its line in the file (1 for the first) and the line before's seal ("" for the first), so
    /// each checkpoint commits to the ones before it: a line taken out breaks the next. Nil in
    /// lines written before checkpoints were chained.
    public var count: Int?
    public var previous: String?
    /// HMAC-SHA256 over `sequence:hash:at` (and `:count:previous` when chained), in hex; nil when
    /// the deployment signs its checkpoints only as notes.
    public var mac: String?
    /// The Merkle tree of the first `sequence` events as a C2SP signed note (origin, size, root,
    /// and an Ed25519 signature), when the deployment keeps a transparency log.
    public var note: String?

    public init(
        sequence: Int64, hash: String, at: String, count: Int? = nil, previous: String? = nil, key: SymmetricKey?, note: String? = nil
    ) {
        self.sequence = sequence
        self.hash = hash
        self.at = at
        self.count = count
        self.previous = previous
        self.note = note
        mac = key.map { Self.mac(sequence: sequence, hash: hash, at: at, count: count, previous: previous, key: $0) }
    }

    static func mac(sequence: Int64, hash: String, at: String, count: Int?, previous: String?, key: SymmetricKey) -> String {
        let chained = count.map { ":\($0):\(previous ?? "")" } ?? ""
        return Hex.encode(HMAC<SHA256>.authenticationCode(for: Array("\(sequence):\(hash):\(at)\(chained)".utf8), using: key))
    }

    /// What the next line's `previous` names: its MAC, or the digest of its note when it has none.
    var seal: String { mac ?? Hex.encode(SHA256.hash(data: Array((note ?? "").utf8))) }

    /// Whether `key` signed this checkpoint.
    public func isSigned(with key: SymmetricKey) -> Bool {
        guard let mac else { return false }
        let expected = Array(Self.mac(sequence: sequence, hash: hash, at: at, count: count, previous: previous, key: key).utf8)
        let given = Array(mac.utf8)
        // Constant time: the comparison must not say how much of a forged MAC was right.
        return expected.count == given.count && zip(expected, given).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

/// The append-only file of checkpoints: one JSON object per line.
public struct CheckpointFile: Sendable {
    public let path: String
    let key: SymmetricKey?
    /// Checks the lines' signed notes, when the deployment keeps a transparency log.
    public let verifier: NoteVerifier?
    /// How long events may wait to be anchored before a check says the file is lagging (cut short,
    /// emptied, deleted, or no gateway anchoring): twice the checkpoint interval and a minute.
    public let allowedLag: TimeInterval

    /// - Parameter secret: the HMAC key's text, from the environment (at least 32 characters); nil
    ///   when checkpoints are signed only as notes.
    /// - Parameter verifier: the key the checkpoints' notes are signed with, when they are.
    /// - Parameter interval: how often the gateway writes a checkpoint (`checkpoint_seconds`).
    public init(path: String, secret: String?, verifier: NoteVerifier? = nil, interval: TimeInterval = 60) {
        self.path = path
        key = secret.map { SymmetricKey(data: SHA256.hash(data: Array($0.utf8))) }
        self.verifier = verifier
        allowedLag = interval * 2 + 60
    }

    /// Appends a checkpoint of `head`, chained to the one before, and makes it durable. Gateways
    /// sharing one file take turns (an exclusive lock while each reads the last line and appends),
    /// and a head no newer than the file's last checkpoint is not written again.
    public func append(sequence: Int64, hash: String, at: Date, note: String? = nil) throws {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let descriptor = open(path, O_RDWR | O_APPEND | O_CREAT, 0o640)
        guard descriptor >= 0 else { throw CheckpointError(description: "cannot open the checkpoint file \(path)") }
        defer { close(descriptor) }
        guard flock(descriptor, LOCK_EX) == 0 else { throw CheckpointError(description: "cannot lock the checkpoint file \(path)") }
        defer { flock(descriptor, LOCK_UN) }
        var existing: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        var offset: off_t = 0
        while true {
            let count = chunk.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, offset) }
            guard count > 0 else { break }
            existing += chunk[0..<count]
            offset += off_t(count)
        }
        let lines = existing.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true)
        let last = lines.last.flatMap { try? JSONDecoder().decode(AuditCheckpoint.self, from: Data($0)) }
        if let last, last.sequence >= sequence { return }
        let checkpoint = AuditCheckpoint(
            sequence: sequence, hash: hash, at: Timestamp.string(at), count: lines.count + 1, previous: last?.seal ?? "", key: key, note: note)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var line = try encoder.encode(checkpoint)
        line.append(UInt8(ascii: "\n"))
        let written = line.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == line.count, fsync(descriptor) == 0 else { throw CheckpointError(description: "cannot write the checkpoint file \(path)") }
    }

    /// The newest checkpoint's sequence, or nil when there is none.
    public func newestSequence() -> Int64? { (try? read())?.checkpoints.last?.sequence }

    /// Every checkpoint, and the problems with lines that are not checkpoints this key signed.
    public func read() throws -> (checkpoints: [AuditCheckpoint], problems: [String]) {
        guard FileManager.default.fileExists(atPath: path) else { return ([], []) }
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var checkpoints: [AuditCheckpoint] = []
        var problems: [String] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            guard let checkpoint = try? JSONDecoder().decode(AuditCheckpoint.self, from: Data(line.utf8)) else {
                problems.append("checkpoint line \(number + 1) is not a checkpoint")
                continue
            }
            if let problem = problem(with: checkpoint) {
                problems.append("checkpoint line \(number + 1) \(problem)")
                continue
            }
            if let last = checkpoints.last, checkpoint.sequence < last.sequence {
                problems.append("checkpoint line \(number + 1) goes back from sequence \(last.sequence) to \(checkpoint.sequence)")
            }
            if let count = checkpoint.count, count != number + 1 || checkpoint.previous != (checkpoints.last?.seal ?? "") {
                problems.append(
                    "checkpoint line \(number + 1) was written as line \(count) after another line than the one before it: checkpoints were removed or reordered"
                )
            }
            checkpoints.append(checkpoint)
        }
        return (checkpoints, problems)
    }
}

extension CheckpointFile {
    /// Why a line cannot be trusted, or nil: it must carry what this deployment signs with (the
    /// HMAC, the note, or both), each valid, and a note must be of the tree of `sequence` events.
    func problem(with checkpoint: AuditCheckpoint) -> String? {
        if let key, !checkpoint.isSigned(with: key) {
            return "is not signed with the audit key: it was forged or the key changed"
        }
        guard let verifier else { return key == nil ? "cannot be checked: no audit key or verifier key is configured" : nil }
        guard let note = checkpoint.note else {
            return key == nil ? "carries no signed note: it was forged, or written before the transparency log was kept" : nil
        }
        switch verifier.checkpoint(note) {
        case .failure(let error): return "has a signed note that does not verify: \(error.description)"
        case .success(let tree) where tree.size != checkpoint.sequence:
            return "has a signed note of \(tree.size) events but records \(checkpoint.sequence): it was edited"
        case .success: return nil
        }
    }

    /// The Merkle trees the file's signed notes record, oldest first.
    public static func trees(_ checkpoints: [AuditCheckpoint], verifier: NoteVerifier?) -> [(checkpoint: AuditCheckpoint, tree: TreeCheckpoint)] {
        guard let verifier else { return [] }
        return checkpoints.compactMap { checkpoint in
            guard let note = checkpoint.note, case .success(let tree) = verifier.checkpoint(note) else { return nil }
            return (checkpoint, tree)
        }
    }
}

public struct CheckpointError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

extension AuditChain {
    /// Checks the chain the store holds (`verdict`, already checked event by event) against the
    /// checkpoints: each must name an event the store still has, with the same hash. Events
    /// deleted from the end, all events deleted, or a chain rewritten and rehashed are named here.
    /// - Parameter hashAt: the hash of the store's event at a sequence, or nil when it has none.
    public static func verify(
        _ verdict: Verdict, against checkpoints: [AuditCheckpoint], problems: [String], hashAt: (Int64) async throws -> String?
    ) async rethrows -> Verdict {
        guard case .intact(let events, _) = verdict else { return verdict }
        if let problem = problems.first { return .broken(sequence: events, reason: problem) }
        for checkpoint in checkpoints {
            guard checkpoint.sequence <= events else {
                return .broken(
                    sequence: events + 1,
                    reason:
                        "events \(events + 1) to \(checkpoint.sequence) are missing: the checkpoint of \(checkpoint.at) records \(checkpoint.sequence) events, the log has \(events)"
                )
            }
            guard try await hashAt(checkpoint.sequence) == checkpoint.hash else {
                return .broken(
                    sequence: checkpoint.sequence,
                    reason: "event \(checkpoint.sequence) is not the one the checkpoint of \(checkpoint.at) recorded: the chain was rewritten")
            }
        }
        return verdict
    }
}
