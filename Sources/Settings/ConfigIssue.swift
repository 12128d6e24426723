import Foundation

/// One problem in a configuration file, where it is and what to do about it.
public struct ConfigIssue: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    public var message: String
    public var hint: String?
    /// Where in the document, as a JSON Pointer over its keys and list positions
    /// (`/rules/2/route_to/0`); nil when the problem is not at one node.
    public var path: String?

    public init(file: String, line: Int, column: Int, message: String, hint: String? = nil, path: String? = nil) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
        self.hint = hint
        self.path = path
    }

    public var description: String {
        "\(file):\(line):\(column): error: \(message)" + (hint.map { "\n    hint: \($0)" } ?? "")
    }
}

/// Every problem found in a configuration file; the configuration does not take effect.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public var issues: [ConfigIssue]
    public init(issues: [ConfigIssue]) { self.issues = issues }
    public var description: String { issues.map(\.description).joined(separator: "\n") }
}
