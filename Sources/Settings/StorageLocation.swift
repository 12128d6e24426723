import Foundation

/// Where the store lives, from `storage.url` in switchboard.yaml.
public enum StorageLocation: Sendable, Equatable {
    case sqlite(path: String)

    /// Parses `sqlite:PATH` (relative paths are relative to `base`).
    public static func parse(_ url: String, relativeTo base: URL? = nil) -> StorageLocation? {
        guard url.hasPrefix("sqlite:") else { return nil }
        var path = String(url.dropFirst("sqlite:".count))
        if path.hasPrefix("//") { path = String(path.dropFirst(2)) }
        guard !path.isEmpty else { return nil }
        if !path.hasPrefix("/"), let base { path = base.appendingPathComponent(path).path }
        return .sqlite(path: path)
    }

    /// Finds the storage location alone, for commands that read the database without running the
    /// gateway (and so without the keys and secrets `serve` needs). `override` is a storage URL
    /// given on the command line, relative to the working directory.
    public static func configured(configPath: String, override: String?) throws(ConfigError) -> StorageLocation {
        if let override {
            guard let location = parse(override, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)) else {
                throw ConfigError(issues: [
                    ConfigIssue(file: "--storage", line: 1, column: 1, message: "'\(override)' is not a storage URL", hint: "use sqlite:PATH")
                ])
            }
            return location
        }
        let reader = ConfigReader(file: configPath)
        guard let text = try? String(contentsOfFile: configPath, encoding: .utf8) else {
            throw ConfigError(issues: [
                ConfigIssue(
                    file: configPath, line: 1, column: 1, message: "cannot read the configuration file",
                    hint: "pass --config PATH or --storage URL")
            ])
        }
        let root = reader.compose(text)
        let base = URL(fileURLWithPath: configPath).deletingLastPathComponent()
        if case .mapping(let top)? = root, let storage = top["storage"], case .mapping(let entries) = storage,
            let url = entries["url"]?.string, let location = parse(url, relativeTo: base)
        {
            return location
        }
        reader.fail(root, "no usable storage.url in this file", hint: "storage:\n      url: sqlite:PATH")
        throw ConfigError(issues: reader.issues)
    }
}
