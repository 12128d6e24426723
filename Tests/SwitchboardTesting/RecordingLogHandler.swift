import Logging
import Synchronization

/// A log handler that keeps every line, metadata included, so a test can read what was logged.
public struct RecordingLogHandler: LogHandler {
    /// The lines one or more loggers wrote.
    public final class Lines: Sendable {
        private let lines = Mutex<[String]>([])

        public init() {}

        /// A logger at `level` that writes here.
        public func logger(label: String = "test", level: Logger.Level = .trace) -> Logger {
            var logger = Logger(label: label) { _ in RecordingLogHandler(lines: self) }
            logger.logLevel = level
            return logger
        }

        func append(_ line: String) { lines.withLock { $0.append(line) } }

        /// Everything logged, one line each.
        public var text: String { lines.withLock { $0.joined(separator: "\n") } }
    }

    let lines: Lines
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .trace

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        let fields = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        lines.append("\(event.level) \(event.message) \(fields)")
    }
}
