/// `audit: {checkpoint_file, key_env, checkpoint_seconds}`: the append-only file the chain's head
/// is written to, signed with the key in the environment variable named, every so many seconds.
public struct AuditCheckpoints: Sendable, Equatable {
    public var file: String
    public var keyEnv: String
    /// The key itself, from the environment; nil when it is not set (commands that only read).
    public var key: String?
    public var seconds: Double

    public init(file: String, keyEnv: String, key: String?, seconds: Double = 60) {
        self.file = file
        self.keyEnv = keyEnv
        self.key = key
        self.seconds = seconds
    }
}
