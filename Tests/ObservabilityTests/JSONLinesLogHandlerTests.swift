import Foundation
import Logging
import Observability
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Log lines a log shipper can parse: one JSON object each, whatever the message and fields hold.
@Suite struct JSONLinesLogHandlerTests {
    @Test func eachLineIsOneJSONObjectWithItsFieldsEscaped() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("log-\(UUID().uuidString).jsonl").path
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        defer { unlink(path) }
        var logger = Logger(label: "switch\"board") { JSONLinesLogHandler(label: $0, descriptor: descriptor) }
        logger[metadataKey: "request"] = "01a20000-0000-7000-8000-000000000001"
        logger.info("Rules file rejected: \"x\"\n\tline 2 \u{1}", metadata: ["trigger": "SIGHUP", "agencies": ["a", "b"], "n": "\(3)"])
        logger.debug("below the level")
        logger.warning("second", metadata: ["nested": ["k": "v\\w"]])
        close(descriptor)
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)
        let first = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(first["message"] as? String == "Rules file rejected: \"x\"\n\tline 2 \u{1}")
        #expect(first["label"] as? String == "switch\"board" && first["level"] as? String == "info")
        #expect(first["trigger"] as? String == "SIGHUP" && first["agencies"] as? [String] == ["a", "b"] && first["n"] as? String == "3")
        #expect(first["request"] as? String == "01a20000-0000-7000-8000-000000000001")
        let time = try #require(first["time"] as? String)
        #expect(
            time.count == 24 && time.hasSuffix("Z")
                && ISO8601DateFormatter().date(from: time.replacingOccurrences(of: ".\(time.dropFirst(20).prefix(3))", with: "")) != nil)
        let second = try #require(try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as? [String: Any])
        #expect((second["nested"] as? [String: String])?["k"] == "v\\w")
    }
}
