import Foundation
import Yams

/// `storage.encryption`: where the key-encryption key is, never the key itself. `key_env` names an
/// environment variable, `key_file` a file in the configuration folder; either holds 32 random
/// bytes in base64, as `switchboard storage new-key` prints them.
public struct StorageEncryption: Sendable, Equatable {
    public enum Source: Sendable, Equatable {
        case environment(String)
        case file(String)
    }

    public var source: Source

    public init(source: Source) { self.source = source }

    /// Where the key is, as a sentence can name it.
    public var origin: String {
        switch source {
        case .environment(let name): "environment variable \(name)"
        case .file(let path): "key file \(path)"
        }
    }

    /// The key's 32 bytes, or a configuration error saying what is wrong and how to mend it.
    public func key(environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigError) -> [UInt8] {
        let text: String?
        switch source {
        case .environment(let name): text = environment[name]
        case .file(let path): text = try? String(contentsOfFile: path, encoding: .utf8)
        }
        guard let text, !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw Self.problem("\(origin) is not set or cannot be read")
        }
        guard let bytes = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)), bytes.count == 32 else {
            throw Self.problem("\(origin) does not hold 32 bytes in base64")
        }
        return Array(bytes)
    }

    static func problem(_ message: String) -> ConfigError {
        ConfigError(issues: [
            ConfigIssue(
                file: "switchboard.yaml", line: 1, column: 1, message: "storage.encryption: \(message)",
                hint: "give the key the database was encrypted with; a new database's key comes from: switchboard storage new-key")
        ])
    }

    /// The storage section's encryption, read alone, for commands that open the store without the
    /// rest of the configuration. Nil when the file has none (or cannot be read).
    public static func configured(configPath: String) -> StorageEncryption? {
        guard let text = try? String(contentsOfFile: configPath, encoding: .utf8) else { return nil }
        let reader = ConfigReader(file: configPath)
        guard case .mapping(let top)? = reader.compose(text), let storage = top["storage"] else { return nil }
        let base = URL(fileURLWithPath: configPath).deletingLastPathComponent()
        return SectionReader(reader: reader, base: base).storageEncryption(storage, environment: [:], requireSecrets: false)
    }
}

extension SectionReader {
    func storageEncryption(_ node: Node?, environment: [String: String], requireSecrets: Bool) -> StorageEncryption? {
        guard case .mapping(let storage)? = node, let node = storage["encryption"],
            let entries = reader.mapping(node, "encryption", allowed: ["key_env", "key_file"])
        else { return nil }
        let hint = "give one of key_env: NAME or key_file: PATH, holding a key from: switchboard storage new-key"
        let encryption: StorageEncryption
        switch (reader.string(entries["key_env"], "key_env"), reader.string(entries["key_file"], "key_file")) {
        case (let name?, nil):
            encryption = StorageEncryption(source: .environment(name))
        case (nil, let path?):
            let resolved = path.hasPrefix("/") ? path : base.appendingPathComponent(path).path
            guard AgencyEndpoints.isInside(resolved, folder: base.path) else {
                reader.fail(
                    entries["key_file"], "storage.encryption.key_file '\(path)' is outside the configuration folder",
                    hint: "keep it beside switchboard.yaml (for example keys/storage.key), or use key_env")
                return nil
            }
            encryption = StorageEncryption(source: .file(resolved))
        default:
            reader.fail(node, "storage.encryption needs exactly one of key_env and key_file", hint: hint)
            return nil
        }
        if requireSecrets {
            do { _ = try encryption.key(environment: environment) } catch {
                for issue in error.issues { reader.fail(node, issue.message, hint: issue.hint) }
            }
        }
        return encryption
    }
}
