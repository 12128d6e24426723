import Foundation
import ReferralModel

/// Adapter options are configuration values with their place in agencies.yaml.
public typealias OptionValue = ConfigValue

/// What an adapter is told when it is set up for one agency.
public struct AdapterSetup: Sendable {
    /// The agency's `options` mapping (empty when it has none), and where it starts.
    public var options: [String: OptionValue]
    public var line: Int
    public var column: Int
    /// The folder agencies.yaml is in: relative paths in options (templates) are relative to it.
    public var configDirectory: URL
    public var agencyId: String
    /// The agency's endpoint, for adapters that name their destination in the message.
    public var endpoint: String
    /// The agency's name from agencies.yaml, for messages that name the receiving organisation.
    public var agencyName: String
    /// The deployment's needs, with the SNOMED CT concept each is sent as where one is configured.
    public var vocabulary: NeedsVocabulary

    /// A file an option names, relative to the configuration folder; nil when it resolves outside
    /// that folder (`../x.json`, or an absolute path elsewhere), since what an adapter reads from it
    /// may be sent to the agency.
    public func fileInsideConfiguration(_ name: String) -> URL? {
        let folder = configDirectory.standardized.path
        let url = (name.hasPrefix("/") ? URL(fileURLWithPath: name) : configDirectory.appendingPathComponent(name)).standardized
        return url.path.hasPrefix(folder.hasSuffix("/") ? folder : folder + "/") ? url : nil
    }

    public init(
        options: [String: OptionValue] = [:], line: Int = 1, column: Int = 1, configDirectory: URL, agencyId: String,
        endpoint: String = "", agencyName: String? = nil, vocabulary: NeedsVocabulary = .standard
    ) {
        self.agencyName = agencyName ?? agencyId
        self.vocabulary = vocabulary
        self.options = options
        self.line = line
        self.column = column
        self.configDirectory = configDirectory
        self.agencyId = agencyId
        self.endpoint = endpoint
    }
}

/// A problem with an agency's adapter options, at the option it is about.
public struct AdapterOptionError: Error, Sendable, Equatable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public var message: String
    public var hint: String?

    public init(line: Int, column: Int, message: String, hint: String? = nil) {
        self.line = line
        self.column = column
        self.message = message
        self.hint = hint
    }

    public var description: String { "\(line):\(column): \(message)" + (hint.map { " (\($0))" } ?? "") }
}

/// An option an adapter accepts, for validation and for `switchboard adapters`.
public struct OptionSpec: Sendable, Equatable {
    public enum ValueType: Sendable, Equatable {
        case text
        case textList
        case flag
        case choice([String])
        case textMap

        public var description: String {
            switch self {
            case .text: "text"
            case .textList: "list of text"
            case .flag: "true or false"
            case .choice(let values): "one of " + values.joined(separator: ", ")
            case .textMap: "mapping of names to text"
            }
        }
    }

    public var name: String
    public var type: ValueType
    public var required: Bool
    public var summary: String

    public init(_ name: String, _ type: ValueType, required: Bool = false, summary: String) {
        self.name = name
        self.type = type
        self.required = required
        self.summary = summary
    }
}

/// Checks options against an adapter's specs, collecting every problem, and reads typed values.
public struct OptionReader {
    public let setup: AdapterSetup
    public let specs: [OptionSpec]
    public private(set) var errors: [AdapterOptionError] = []

    public init(_ setup: AdapterSetup, specs: [OptionSpec]) {
        self.setup = setup
        self.specs = specs
        for (key, value) in setup.options.sorted(by: { $0.key < $1.key }) {
            guard let spec = specs.first(where: { $0.name == key }) else {
                let known = specs.map(\.name).sorted()
                errors.append(
                    AdapterOptionError(
                        line: value.line, column: value.column, message: "unknown option '\(key)'",
                        hint: known.isEmpty ? "this adapter takes no options" : "its options are: \(known.joined(separator: ", "))"))
                continue
            }
            if let problem = Self.typeProblem(value, spec.type) {
                errors.append(AdapterOptionError(line: value.line, column: value.column, message: "option '\(key)' \(problem)"))
            }
        }
        for spec in specs where spec.required && setup.options[spec.name] == nil {
            errors.append(
                AdapterOptionError(line: setup.line, column: setup.column, message: "option '\(spec.name)' is required", hint: spec.summary))
        }
    }

    private static func typeProblem(_ value: OptionValue, _ type: OptionSpec.ValueType) -> String? {
        switch (type, value.kind) {
        case (.text, .text), (.flag, .flag): return nil
        case (.textList, .list(let items)):
            return items.allSatisfy({ if case .text = $0.kind { true } else { false } }) ? nil : "must be a list of text values"
        case (.textMap, .map(let entries)):
            return entries.values.allSatisfy({ if case .text = $0.kind { true } else { false } }) ? nil : "must map names to text values"
        case (.choice(let allowed), .text(let text)):
            return allowed.contains(text) ? nil : "must be one of \(allowed.joined(separator: ", ")), not '\(text)'"
        default: return "must be \(type.description)"
        }
    }

    public mutating func fail(_ key: String?, _ message: String, hint: String? = nil) {
        let value = key.flatMap { setup.options[$0] }
        errors.append(
            AdapterOptionError(line: value?.line ?? setup.line, column: value?.column ?? setup.column, message: message, hint: hint))
    }

    public func text(_ key: String) -> String? {
        if case .text(let text)? = setup.options[key]?.kind { return text }
        return nil
    }

    public func flag(_ key: String) -> Bool? {
        if case .flag(let flag)? = setup.options[key]?.kind { return flag }
        return nil
    }

    public func texts(_ key: String) -> [String]? {
        guard case .list(let items)? = setup.options[key]?.kind else { return nil }
        return items.compactMap { if case .text(let text) = $0.kind { text } else { nil } }
    }

    public func textMap(_ key: String) -> [String: String]? {
        guard case .map(let entries)? = setup.options[key]?.kind else { return nil }
        return entries.compactMapValues { if case .text(let text) = $0.kind { text } else { nil } }
    }

    /// Throws every problem found, or returns when there are none.
    public func finish() throws(AdapterOptionErrors) {
        if !errors.isEmpty { throw AdapterOptionErrors(errors: errors) }
    }
}

/// Every problem with one agency's adapter options.
public struct AdapterOptionErrors: Error, Sendable, Equatable {
    public var errors: [AdapterOptionError]
    public init(errors: [AdapterOptionError]) { self.errors = errors }
}
