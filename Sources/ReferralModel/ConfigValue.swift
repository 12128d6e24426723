/// A value from a configuration file with where it was written, for settings whose shape only a
/// plugin knows (an agency's adapter `options`).
public struct ConfigValue: Sendable, Equatable {
    public indirect enum Kind: Sendable, Equatable {
        case text(String)
        case number(Double)
        case flag(Bool)
        case list([ConfigValue])
        case map([String: ConfigValue])
    }

    public var kind: Kind
    public var line: Int
    public var column: Int

    public init(_ kind: Kind, line: Int, column: Int) {
        self.kind = kind
        self.line = line
        self.column = column
    }
}
