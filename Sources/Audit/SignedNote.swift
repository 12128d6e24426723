import Crypto
import Foundation
import ReferralModel

/// A checkpoint of the audit log's Merkle tree in the C2SP `tlog-checkpoint` format: the origin
/// (the log's name), the tree size and its root hash, one per line.
public struct TreeCheckpoint: Sendable, Equatable {
    public var origin: String
    public var size: Int64
    public var root: [UInt8]

    public init(origin: String, size: Int64, root: [UInt8]) {
        self.origin = origin
        self.size = size
        self.root = root
    }

    /// The note's text: `origin\nsize\nbase64(root)\n`.
    public var text: String { "\(origin)\n\(size)\n\(Data(root).base64EncodedString())\n" }

    /// Reads a checkpoint's text (extension lines after the root are allowed and ignored).
    public init?(text: String) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count >= 4, text.hasSuffix("\n"), !lines[0].isEmpty, let size = Int64(lines[1]), size >= 0,
            String(size) == lines[1], let root = Data(base64Encoded: String(lines[2])), root.count == 32
        else { return nil }
        self.init(origin: String(lines[0]), size: size, root: Array(root))
    }
}

/// Signs notes (C2SP `signed-note`) with an Ed25519 key, for the audit log's checkpoints.
public struct NoteSigner: Sendable {
    public let name: String
    let key: Curve25519.Signing.PrivateKey
    let keyID: [UInt8]

    /// Reads a signer key: `PRIVATE+KEY+<name>+<key id>+<base64(0x01 || 32-byte seed)>`.
    public init(text: String) throws {
        // The key is base64, which may hold '+': split off the first four fields only.
        let parts = text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "+", maxSplits: 4, omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "PRIVATE", parts[1] == "KEY", NoteKeys.isValidName(String(parts[2])),
            let encoded = Data(base64Encoded: String(parts[4])), encoded.count == 33, encoded.first == NoteKeys.ed25519,
            let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: encoded.dropFirst())
        else {
            throw NoteKeyError(
                description:
                    "it is not an audit signing key (PRIVATE+KEY+name+id+key, as `switchboard audit signing-key new` writes)")
        }
        name = String(parts[2])
        self.key = key
        keyID = NoteKeys.keyID(name: name, publicKey: Array(key.publicKey.rawRepresentation))
        guard Hex.encode(keyID) == parts[3] else { throw NoteKeyError(description: "its key id does not match its key: the file was edited") }
    }

    /// A new key named `name` (the log's origin), as the text of a signer key.
    public static func generate(name: String) throws -> String {
        guard NoteKeys.isValidName(name) else {
            throw NoteKeyError(description: "the name '\(name)' cannot name a key: use letters, digits, dots and slashes, without spaces or '+'")
        }
        let key = Curve25519.Signing.PrivateKey()
        let id = NoteKeys.keyID(name: name, publicKey: Array(key.publicKey.rawRepresentation))
        return "PRIVATE+KEY+\(name)+\(Hex.encode(id))+\(Data([NoteKeys.ed25519] + Array(key.rawRepresentation)).base64EncodedString())"
    }

    /// The verifier key others check its notes with: `<name>+<key id>+<base64(0x01 || public key)>`.
    public var verifierKey: String {
        "\(name)+\(Hex.encode(keyID))+\(Data([NoteKeys.ed25519] + Array(key.publicKey.rawRepresentation)).base64EncodedString())"
    }

    /// The note `text` (which ends in a newline) followed by a blank line and this key's signature line.
    public func sign(_ text: String) throws -> String {
        let signature = try key.signature(for: Array(text.utf8))
        return text + "\n\u{2014} \(name) \(Data(keyID + Array(signature)).base64EncodedString())\n"
    }

    /// A checkpoint of the tree of `size` leaves with `root`, signed: what `/v1/audit/checkpoint` serves.
    public func checkpoint(size: Int64, root: [UInt8]) throws -> String {
        try sign(TreeCheckpoint(origin: name, size: size, root: root).text)
    }
}

/// Checks notes signed by one key.
public struct NoteVerifier: Sendable {
    public let name: String
    let key: Curve25519.Signing.PublicKey
    let keyID: [UInt8]

    /// Reads a verifier key: `<name>+<key id>+<base64(0x01 || public key)>`.
    public init(text: String) throws {
        let parts = text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, NoteKeys.isValidName(String(parts[0])), let encoded = Data(base64Encoded: String(parts[2])),
            encoded.count == 33, encoded.first == NoteKeys.ed25519,
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: encoded.dropFirst())
        else { throw NoteKeyError(description: "it is not a note verifier key (name+id+key, as `switchboard audit verifier-key` prints)") }
        name = String(parts[0])
        self.key = key
        keyID = NoteKeys.keyID(name: name, publicKey: Array(key.rawRepresentation))
        guard Hex.encode(keyID) == parts[1] else { throw NoteKeyError(description: "its key id does not match its key") }
    }

    /// The note's text when one of its signatures is this key's and verifies; otherwise why not.
    public func open(_ note: String) -> Result<String, NoteKeyError> {
        guard let split = note.range(of: "\n\n", options: .backwards) else {
            return .failure(NoteKeyError(description: "it is not a signed note: no blank line before its signatures"))
        }
        let text = String(note[..<split.lowerBound]) + "\n"
        let signatures = note[split.upperBound...].split(separator: "\n")
        for line in signatures {
            let fields = line.split(separator: " ")
            guard fields.count == 3, fields[0] == "\u{2014}", fields[1] == name, let blob = Data(base64Encoded: String(fields[2])),
                blob.count == 68, Array(blob.prefix(4)) == keyID
            else { continue }
            guard key.isValidSignature(blob.dropFirst(4), for: Array(text.utf8)) else {
                return .failure(NoteKeyError(description: "its signature by \(name) does not verify: the note was altered"))
            }
            return .success(text)
        }
        return .failure(NoteKeyError(description: "it carries no signature by \(name)"))
    }

    /// The checkpoint a signed note holds, when this key signed it and it names this log.
    public func checkpoint(_ note: String) -> Result<TreeCheckpoint, NoteKeyError> {
        open(note).flatMap { text in
            guard let checkpoint = TreeCheckpoint(text: text) else {
                return .failure(NoteKeyError(description: "its text is not a checkpoint (origin, size, root hash)"))
            }
            guard checkpoint.origin == name else {
                return .failure(NoteKeyError(description: "it is a checkpoint of \(checkpoint.origin), not of \(name)"))
            }
            return .success(checkpoint)
        }
    }
}

public struct NoteKeyError: Error, Sendable, CustomStringConvertible, Equatable {
    public var description: String
}

enum NoteKeys {
    /// The signature-type byte of Ed25519 keys in C2SP signed notes.
    static let ed25519: UInt8 = 0x01

    /// The first four bytes of SHA-256(name || "\n" || 0x01 || public key).
    static func keyID(name: String, publicKey: [UInt8]) -> [UInt8] {
        Array(SHA256.hash(data: Array(name.utf8) + [0x0A, ed25519] + publicKey).prefix(4))
    }

    /// A key name: not empty, no spaces, no '+', printable.
    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value != 0x7F && $0 != "+" && !$0.properties.isWhitespace }
    }
}
