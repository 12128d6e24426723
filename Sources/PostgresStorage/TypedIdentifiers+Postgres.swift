import NIOCore
import PostgresNIO
import ReferralModel

/// Typed ids are written and read as their text, as a `String` is.
public protocol PostgresIdentifier: TypedIdentifier, PostgresNonThrowingEncodable, PostgresDecodable, PostgresArrayEncodable,
    PostgresArrayDecodable
{}

extension PostgresIdentifier {
    public static var psqlType: PostgresDataType { String.psqlType }
    public static var psqlFormat: PostgresFormat { String.psqlFormat }
    public static var psqlArrayType: PostgresDataType { String.psqlArrayType }

    public func encode<JSONEncoder: PostgresJSONEncoder>(into byteBuffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) {
        rawValue.encode(into: &byteBuffer, context: context)
    }

    public init<JSONDecoder: PostgresJSONDecoder>(
        from buffer: inout ByteBuffer, type: PostgresDataType, format: PostgresFormat, context: PostgresDecodingContext<JSONDecoder>
    ) throws {
        self.init(try String(from: &buffer, type: type, format: format, context: context))
    }
}

extension ReferralID: PostgresIdentifier {}
extension DeliveryID: PostgresIdentifier {}
extension AgencyID: PostgresIdentifier {}
