import Foundation

/// Writes JSON with keys in sorted order and nothing else to vary, by hand: the canonical form of a
/// referral is written once per referral on the intake path, where `JSONEncoder` was a measurable
/// share of the cost. Adapters that send the canonical referral inside an envelope write the
/// envelope with it too, so an agency receives exactly the bytes the gateway stored.
public struct CanonicalJSONWriter {
    public private(set) var bytes: [UInt8] = []

    public init() { bytes.reserveCapacity(1024) }

    /// Writes an object whose members are given already sorted by key; nil values are left out.
    public mutating func object(_ members: [(String, Value?)]) {
        bytes.append(UInt8(ascii: "{"))
        var first = true
        for (key, value) in members {
            guard let value else { continue }
            if !first { bytes.append(UInt8(ascii: ",")) }
            first = false
            string(key)
            bytes.append(UInt8(ascii: ":"))
            write(value)
        }
        bytes.append(UInt8(ascii: "}"))
    }

    public enum Value {
        /// JSON already written canonically, such as `Referral.canonicalJSON()`, copied as it is.
        case canonical([UInt8])
        case string(String)
        case bool(Bool)
        case strings([String])
        case object([(String, Value?)])
        case objects([[(String, Value?)]])
    }

    private mutating func write(_ value: Value) {
        switch value {
        case .canonical(let json): bytes.append(contentsOf: json)
        case .string(let text): string(text)
        case .bool(let flag): bytes.append(contentsOf: Array((flag ? "true" : "false").utf8))
        case .strings(let list):
            bytes.append(UInt8(ascii: "["))
            for (index, text) in list.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                string(text)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let members): object(members)
        case .objects(let list):
            bytes.append(UInt8(ascii: "["))
            for (index, members) in list.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                object(members)
            }
            bytes.append(UInt8(ascii: "]"))
        }
    }

    private static let hex = Array("0123456789abcdef".utf8)

    private mutating func string(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x08: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x0C: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0..<0x20:
                bytes.append(contentsOf: Array("\\u00".utf8))
                bytes.append(Self.hex[Int(byte >> 4)])
                bytes.append(Self.hex[Int(byte & 0x0F)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

extension Referral {
    /// The canonical JSON form: keys sorted, optional fields left out when absent. The same referral
    /// always gives the same bytes, and `JSONDecoder` reads them back as the same `Referral`.
    public func canonicalJSON() -> Data {
        var writer = CanonicalJSONWriter()
        writer.object([
            (
                "consent",
                .object([
                    ("capacityAssessedBy", consent.capacityAssessedBy.map { .string($0) }),
                    ("decidedAt", consent.decidedAt.map { .string($0) }), ("decisionMaker", consent.decisionMaker.map { .string($0) }),
                    ("gillickCompetent", consent.gillickCompetent.map { .bool($0) }),
                    ("lawfulBasis", consent.lawfulBasis.map { .string($0.rawValue) }),
                    ("parentalResponsibility", consent.parentalResponsibility.map { .string($0) }), ("status", .string(consent.status.rawValue)),
                ])
            ),
            ("expectedDischargeDate", expectedDischargeDate.map { .string($0) }),
            ("externalReference", externalReference.map { .string($0) }),
            ("needs", .strings(needs)),
            ("reason", .string(reason)),
            (
                "referrer",
                .object([
                    ("email", referrer.email.map { .string($0) }), ("name", .string(referrer.name)),
                    ("organisation", .string(referrer.organisation)),
                    ("organisationName", referrer.organisationName.map { .string($0) }),
                    ("organisationType", referrer.organisationType.map { .string($0.rawValue) }), ("phone", referrer.phone.map { .string($0) }),
                    ("role", referrer.role.map { .string($0) }),
                ])
            ),
            ("respondBy", respondBy.map { .string($0) }),
            ("safeguarding", safeguarding.map { .bool($0) }),
            (
                "subject",
                .object([
                    ("address", subject.address.map { .string($0) }), ("birthDate", .string(subject.birthDate)),
                    ("familyName", .string(subject.familyName)), ("gender", subject.gender.map { .string($0.rawValue) }),
                    ("givenName", .string(subject.givenName)),
                    ("interpreterNeeded", subject.interpreterNeeded.map { .bool($0) }),
                    ("nhsNumber", subject.nhsNumber.map { .string($0) }), ("phone", subject.phone.map { .string($0) }),
                    ("postcode", .string(subject.postcode)), ("preferredLanguage", subject.preferredLanguage.map { .string($0) }),
                    ("registeredPractice", subject.registeredPractice.map { .string($0) }),
                ])
            ),
            ("urgency", .string(urgency.rawValue)),
        ])
        return Data(writer.bytes)
    }
}

extension SubmissionReceipt {
    /// The receipt as JSON with sorted keys, written by hand: it is the body of every 202.
    public func canonicalJSON() -> Data {
        var writer = CanonicalJSONWriter()
        writer.object([
            ("id", .string(id.rawValue)),
            (
                "routes",
                .objects(
                    routes.map {
                        [("agency", .string($0.agency.rawValue)), ("deliveryId", .string($0.deliveryId.rawValue)), ("rule", .string($0.rule))]
                    })
            ),
            ("rulesVersion", .string(rulesVersion)),
            ("status", .string(status.rawValue)),
        ])
        return Data(writer.bytes)
    }
}
