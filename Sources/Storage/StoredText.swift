import Foundation
import ReferralModel

/// How every store writes the small structured values it keeps in text columns, so SQLite and
/// PostgreSQL read each other's conventions the same way.
public enum StoredText {
    /// Agency ids and need codes are plain words (letters, digits, hyphens): nothing to escape.
    public static func jsonWords(_ words: [String]) -> String { "[" + words.map { "\"\($0)\"" }.joined(separator: ",") + "]" }

    /// Agency ids as a JSON array of words.
    public static func jsonWords<ID: TypedIdentifier>(_ ids: [ID]) -> String { jsonWords(ids.map(\.rawValue)) }

    /// A stored JSON array of agency ids, or nil for NULL (or text that is not one).
    public static func agencies(_ json: String?) -> [AgencyID]? { words(json)?.map(AgencyID.init) }

    /// A stored JSON array of words, or nil for NULL (or text that is not one).
    public static func words(_ json: String?) -> [String]? {
        json.flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) }
    }

    /// Any list of strings as a JSON array (organisations may be more than plain words).
    public static func json(_ values: [String]) -> String {
        String(decoding: (try? JSONEncoder().encode(values)) ?? Data("[]".utf8), as: UTF8.self)
    }

    public static func notice(_ json: String?) -> ReferralNotice? {
        json.flatMap { try? JSONDecoder().decode(ReferralNotice.self, from: Data($0.utf8)) }
    }

    public static func noticeJSON(_ notice: ReferralNotice?) throws -> String? {
        try notice.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
    }

    public static func laneState(_ json: String) -> AgencyLaneState? {
        try? laneCoder.decoder.decode(AgencyLaneState.self, from: Data(json.utf8))
    }

    public static func laneJSON(_ state: AgencyLaneState) throws -> String {
        String(decoding: try laneCoder.encoder.encode(state), as: UTF8.self)
    }

    static let laneCoder: (encoder: JSONEncoder, decoder: JSONDecoder) = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        encoder.outputFormatting = .sortedKeys
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        return (encoder, decoder)
    }()

    /// A referral's status as its deliveries and held reason give it.
    public static func status(held: String?, deliveries: [ReferralReport.Delivery], attention: Bool) -> ReferralStatus {
        deliveries.isEmpty
            ? held.flatMap(ReferralStatus.init(rawValue:)) ?? .routed
            : ReferralStatus.derive(from: deliveries.filter { $0.notice == nil }.map(\.state), attention: attention)
    }
}
