/// `audit: {checkpoint_file, key_env, signing_key_file, checkpoint_seconds}`: the append-only file
/// the log's head is written to every so many seconds, each line signed with the HMAC key in the
/// environment variable `key_env` names, or as a C2SP signed note of the log's Merkle tree with the
/// Ed25519 key in `signing_key_file` (a transparency log others can check), or both.
public struct AuditCheckpoints: Sendable, Equatable {
    public var file: String
    public var keyEnv: String?
    /// The HMAC key itself, from the environment; nil when it is not set (commands that only read).
    public var key: String?
    /// Where the note signing key is, and its text when it could be read.
    public var signingKeyFile: String?
    public var signingKey: String?
    public var seconds: Double

    public init(file: String, keyEnv: String?, key: String?, signingKeyFile: String? = nil, signingKey: String? = nil, seconds: Double = 60) {
        self.file = file
        self.keyEnv = keyEnv
        self.key = key
        self.signingKeyFile = signingKeyFile
        self.signingKey = signingKey
        self.seconds = seconds
    }
}
