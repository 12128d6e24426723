import Crypto
import Foundation
import ReferralModel

/// The key-encryption key from `storage.encryption`: 32 random bytes the database never holds.
/// It only wraps the store's data keys, so replacing it (`storage rotate-key`) re-wraps two small
/// rows and re-encrypts nothing.
public struct KeyEncryptionKey: Sendable {
    /// Names the key without revealing it (a keyed digest of a fixed label), stored with each data
    /// key it wraps, so a gateway given another key is told so at start.
    public let id: String
    let key: SymmetricKey

    public init(bytes: [UInt8]) throws(RecordSealingProblem) {
        guard bytes.count == 32 else { throw RecordSealingProblem("the key-encryption key is \(bytes.count) bytes; it must be 32") }
        key = SymmetricKey(data: bytes)
        id = Hex.encode(HMAC<SHA256>.authenticationCode(for: Data("switchboard key-encryption key id".utf8), using: key).prefix(8))
    }

    /// A new random key, as `switchboard storage new-key` prints it (base64).
    public static func newEncoded() -> String { SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() } }

    func wrap(_ dataKey: SymmetricKey, id dataKeyId: String) throws -> Data {
        try AES.GCM.seal(dataKey.withUnsafeBytes { Data($0) }, using: key, authenticating: Data("switchboard data key \(dataKeyId)".utf8))
            .combined ?? Data()
    }

    func unwrap(_ wrapped: Data, id dataKeyId: String) throws -> SymmetricKey {
        SymmetricKey(
            data: try AES.GCM.open(AES.GCM.SealedBox(combined: wrapped), using: key, authenticating: Data("switchboard data key \(dataKeyId)".utf8)))
    }
}

/// Why stored records cannot be sealed or opened, in words an operator can act on.
public struct RecordSealingProblem: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A store's data key as stored: its id, the key-encryption key that wraps it (`none`: not
/// wrapped, in a store without encryption) and the wrapped bytes.
public struct StoredDataKey: Sendable, Equatable {
    public var id: String
    public var kekId: String
    public var wrapped: Data
    public init(id: String, kekId: String, wrapped: Data) {
        self.id = id
        self.kekId = kekId
        self.wrapped = wrapped
    }

    /// The records data key wraps each referral's own key; the index key makes blind indexes.
    public static let records = "records-1"
    public static let index = "index-1"
    /// Marks a data key kept unwrapped, in a store without a key-encryption key.
    public static let unwrapped = "none"
}

/// Seals a referral's personal data at rest and opens it again. Each referral has a key of its
/// own (AES-256-GCM), wrapped by the records data key, which the key-encryption key wraps in turn:
/// erasing a referral deletes its key, and a value only opens in the row it was sealed for (the
/// table, column and row id are its associated data). Without encryption it only makes blind
/// indexes, and stored values pass through unchanged.
public struct RecordSealer: Sendable {
    /// Nil in a store without encryption.
    let records: SymmetricKey?
    /// The index key, as its HMAC keyed once: keying it again for every blind index cost more than
    /// the hash itself (each copy is copied on write, so concurrent uses do not share state).
    private let indexMAC: HMAC<SHA256>

    init(records: SymmetricKey?, index: SymmetricKey) {
        self.records = records
        indexMAC = HMAC<SHA256>(key: index)
    }

    /// Opens (or creates) the store's data keys. `stored` are the rows the store holds; the
    /// answer's `create` are rows the store must insert (`ON CONFLICT DO NOTHING`, then open again,
    /// so two gateways starting at once end with one set) and `rewrap` rows to replace (an index
    /// key written before encryption was on, now wrapped).
    public static func open(stored: [StoredDataKey], kek: KeyEncryptionKey?) throws(RecordSealingProblem) -> (
        sealer: RecordSealer, write: [StoredDataKey]
    ) {
        var write: [StoredDataKey] = []
        func key(_ id: String) throws(RecordSealingProblem) -> SymmetricKey? {
            guard let row = stored.first(where: { $0.id == id }) else { return nil }
            if row.kekId == StoredDataKey.unwrapped {
                let key = SymmetricKey(data: row.wrapped)
                if let kek { write.append(StoredDataKey(id: id, kekId: kek.id, wrapped: (try? kek.wrap(key, id: id)) ?? Data())) }
                return key
            }
            guard let kek else {
                throw RecordSealingProblem(
                    "this database is encrypted (key \(row.kekId)) and no key was given: set storage.encryption.key_file or key_env to its key")
            }
            guard row.kekId == kek.id, let key = try? kek.unwrap(row.wrapped, id: id) else {
                throw RecordSealingProblem(
                    "this database's data is encrypted with key \(row.kekId), not the key given (\(kek.id)): give storage.encryption the key it was encrypted with (after storage rotate-key, the new one)"
                )
            }
            return key
        }
        func fresh(_ id: String, wrapped: Bool) -> SymmetricKey {
            let key = SymmetricKey(size: .bits256)
            if wrapped, let kek {
                write.append(StoredDataKey(id: id, kekId: kek.id, wrapped: (try? kek.wrap(key, id: id)) ?? Data()))
            } else {
                write.append(StoredDataKey(id: id, kekId: StoredDataKey.unwrapped, wrapped: key.withUnsafeBytes { Data($0) }))
            }
            return key
        }
        let index = try key(StoredDataKey.index) ?? fresh(StoredDataKey.index, wrapped: true)
        var records = try key(StoredDataKey.records)
        if records == nil, kek != nil { records = fresh(StoredDataKey.records, wrapped: true) }
        return (RecordSealer(records: records, index: index), write)
    }

    /// Whether new personal data is sealed.
    public var encrypts: Bool { records != nil }

    // MARK: Each referral's key

    /// A new referral's key and how it is stored (nil without encryption).
    public func newReferralKey(_ referral: ReferralID) -> ReferralKey? {
        guard let records else { return nil }
        let key = SymmetricKey(size: .bits256)
        let wrapped = try? AES.GCM.seal(key.withUnsafeBytes { Data($0) }, using: records, authenticating: Data("referral \(referral)".utf8))
        return ReferralKey(key: key, dataKey: StoredDataKey.records, sealed: wrapped?.combined ?? Data())
    }

    /// The key of a stored referral; nil when the referral was stored before encryption (its values
    /// are plaintext) or its key was erased.
    public func referralKey(_ referral: ReferralID, dataKey: String?, sealed: Data?) throws -> ReferralKey? {
        guard let dataKey, let sealed, !sealed.isEmpty else { return nil }
        guard let records, dataKey == StoredDataKey.records else {
            throw RecordSealingProblem("referral \(referral) is sealed with data key \(dataKey), which this store cannot open")
        }
        let key = try AES.GCM.open(AES.GCM.SealedBox(combined: sealed), using: records, authenticating: Data("referral \(referral)".utf8))
        return ReferralKey(key: SymmetricKey(data: key), dataKey: dataKey, sealed: sealed)
    }

    // MARK: Blind indexes

    /// A keyed digest of a normalised value, so a person can be found without plaintext: the NHS
    /// number's ten digits, or the family name (letters, lower case) with the birth date.
    public func blindIndex(_ kind: BlindIndexKind, _ normalised: String) -> String {
        var mac = indexMAC
        mac.update(data: Array("\(kind.rawValue):\(normalised)".utf8))
        return Hex.encode(mac.finalize())
    }

    /// The blind indexes of a referral's subject: (NHS number, family name with birth date).
    public func blindIndexes(_ referral: Referral) -> (nhsNumber: String?, person: String) {
        let subject = referral.subject
        return (
            subject.nhsNumber.flatMap(BlindIndexKind.nhsNumber).map { blindIndex(.nhsNumber, $0) },
            blindIndex(.person, BlindIndexKind.person(familyName: subject.familyName, birthDate: subject.birthDate))
        )
    }
}

/// Whom a subject access search looks for: by NHS number, or by family name and birth date.
public enum PersonSearch: Sendable, Equatable {
    case nhsNumber(String)
    case person(familyName: String, birthDate: String)

    /// The blind index a store looks up; nil for an NHS number that is not ten digits.
    public func index(with sealer: RecordSealer) -> (column: String, value: String)? {
        switch self {
        case .nhsNumber(let number):
            BlindIndexKind.nhsNumber(number).map { ("nhs_index", sealer.blindIndex(.nhsNumber, $0)) }
        case .person(let familyName, let birthDate):
            ("person_index", sealer.blindIndex(.person, BlindIndexKind.person(familyName: familyName, birthDate: birthDate)))
        }
    }

    /// Whether `referral` is about this person (what a store without indexes compares).
    public func matches(_ referral: Referral) -> Bool {
        switch self {
        case .nhsNumber(let number):
            BlindIndexKind.nhsNumber(number).map { $0 == referral.subject.nhsNumber.flatMap(BlindIndexKind.nhsNumber) } ?? false
        case .person(let familyName, let birthDate):
            BlindIndexKind.person(familyName: familyName, birthDate: birthDate)
                == BlindIndexKind.person(familyName: referral.subject.familyName, birthDate: referral.subject.birthDate)
        }
    }
}

/// What a blind index is of.
public enum BlindIndexKind: String, Sendable {
    case nhsNumber = "nhs"
    case person

    /// The ten digits of an NHS number however it was written (spaces, hyphens); nil otherwise.
    public static func nhsNumber(_ value: String) -> String? {
        let digits = value.filter { $0 != " " && $0 != "-" }
        return digits.count == 10 && digits.allSatisfy(\.isASCII) && digits.allSatisfy(\.isNumber) ? digits : nil
    }

    /// A family name's letters in lower case (no spaces, hyphens or apostrophes) with the birth date.
    public static func person(familyName: String, birthDate: String) -> String {
        familyName.lowercased().filter(\.isLetter) + "|" + birthDate.trimmingCharacters(in: .whitespaces)
    }
}

/// One referral's own key, and how it is kept in its row.
public struct ReferralKey: Sendable {
    let key: SymmetricKey
    public let dataKey: String
    public let sealed: Data

    /// Sealed bytes start with these, which JSON and XML never do.
    static let binaryMark: [UInt8] = [0x00, 0x53, 0x42, 0x31]
    /// Sealed text (in text columns) starts with this.
    static let textMark = "sb1:"

    /// Seals `value` for one column of one row (`referrals.body`, row id).
    public func seal(_ value: some DataProtocol, column: String, row: String) -> Data {
        let box = try? AES.GCM.seal(value, using: key, authenticating: Data("\(column) \(row)".utf8))
        return Data(Self.binaryMark) + (box?.combined ?? Data())
    }

    public func sealText(_ value: String, column: String, row: String) -> String {
        Self.textMark + seal(Data(value.utf8), column: column, row: row).dropFirst(Self.binaryMark.count).base64EncodedString()
    }

    /// Whether stored bytes are sealed (else they are plaintext from before encryption).
    public static func isSealed(_ stored: some Collection<UInt8>) -> Bool { stored.starts(with: binaryMark) }
    public static func isSealed(_ stored: String) -> Bool { stored.hasPrefix(textMark) }

    public func open(_ stored: Data, column: String, row: String) throws -> Data {
        guard Self.isSealed(stored) else { return stored }
        return try AES.GCM.open(
            AES.GCM.SealedBox(combined: stored.dropFirst(Self.binaryMark.count)), using: key, authenticating: Data("\(column) \(row)".utf8))
    }

    public func openText(_ stored: String, column: String, row: String) throws -> String {
        guard Self.isSealed(stored) else { return stored }
        guard let combined = Data(base64Encoded: String(stored.dropFirst(Self.textMark.count))) else {
            throw RecordSealingProblem("\(column) of \(row) is not sealed text")
        }
        return String(decoding: try open(Data(Self.binaryMark) + combined, column: column, row: row), as: UTF8.self)
    }
}

extension Optional where Wrapped == ReferralKey {
    /// Opens a stored value with the referral's key; a sealed value with no key (erased, or a store
    /// without encryption) is an error, a plaintext value is itself.
    public func open(_ stored: Data, column: String, row: String) throws -> Data {
        if let self { return try self.open(stored, column: column, row: row) }
        guard !ReferralKey.isSealed(stored) else { throw RecordSealingProblem("\(column) of \(row) is sealed and its key is gone") }
        return stored
    }

    public func openText(_ stored: String, column: String, row: String) throws -> String {
        if let self { return try self.openText(stored, column: column, row: row) }
        guard !ReferralKey.isSealed(stored) else { throw RecordSealingProblem("\(column) of \(row) is sealed and its key is gone") }
        return stored
    }

    public func seal(_ value: some DataProtocol, column: String, row: String) -> Data {
        self?.seal(value, column: column, row: row) ?? Data(value)
    }

    public func sealText(_ value: String, column: String, row: String) -> String {
        self?.sealText(value, column: column, row: row) ?? value
    }
}

/// A referral's personal data as its row is written: sealed (or not) before the store's
/// transaction, with its key and blind indexes. The store fills it in.
public struct StoredIntake: Sendable {
    public var body: Data
    public var original: Data?
    public var dataKey: String?
    public var sealedKey: Data?
    public var nhsIndex: String?
    public var personIndex: String?

    /// Unsealed and unindexed: what a store that was not given its sealer writes.
    public init(plain record: IntakeRecord) {
        body = record.referral.canonicalJSON()
        original = record.original.map { Data($0.body) }
    }

    init(body: Data, original: Data?, dataKey: String?, sealedKey: Data?, nhsIndex: String?, personIndex: String?) {
        self.body = body
        self.original = original
        self.dataKey = dataKey
        self.sealedKey = sealedKey
        self.nhsIndex = nhsIndex
        self.personIndex = personIndex
    }
}

extension RecordSealer {
    /// How `record`'s personal data is written.
    public func prepare(_ record: IntakeRecord) -> StoredIntake {
        let key = newReferralKey(record.referralId)
        let indexes = blindIndexes(record.referral)
        let id = record.referralId.rawValue
        return StoredIntake(
            body: key.seal(record.referral.canonicalJSON(), column: "referrals.body", row: id),
            original: record.original.map { key.seal($0.body, column: "original_messages.body", row: id) }, dataKey: key?.dataKey,
            sealedKey: key?.sealed, nhsIndex: indexes.nhsNumber, personIndex: indexes.person)
    }
}

extension RecordSealer {
    /// The data keys re-wrapped from `current` to `newKey`; keys already under `newKey` are left.
    public static func rewrap(_ stored: [StoredDataKey], from current: KeyEncryptionKey, to newKey: KeyEncryptionKey) throws(RecordSealingProblem)
        -> [StoredDataKey]
    {
        try stored.filter { $0.kekId != newKey.id }.map { (row: StoredDataKey) throws(RecordSealingProblem) -> StoredDataKey in
            let key: SymmetricKey
            if row.kekId == StoredDataKey.unwrapped {
                key = SymmetricKey(data: row.wrapped)
            } else {
                guard row.kekId == current.id, let opened = try? current.unwrap(row.wrapped, id: row.id) else {
                    throw RecordSealingProblem(
                        "data key \(row.id) is wrapped with key \(row.kekId), not the current key (\(current.id)): give the key the database is encrypted with"
                    )
                }
                key = opened
            }
            guard let wrapped = try? newKey.wrap(key, id: row.id) else { throw RecordSealingProblem("could not wrap data key \(row.id)") }
            return StoredDataKey(id: row.id, kekId: newKey.id, wrapped: wrapped)
        }
    }
}
