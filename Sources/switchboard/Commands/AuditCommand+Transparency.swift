import ArgumentParser
import Audit
import Deployment
import Foundation
import ReferralModel
import Settings
import Storage
import UseCases

/// The note verifier key given on the command line, or the one of the configured signing key; nil
/// when there is neither.
func noteVerifier(given: String?, configured: AuditCheckpoints?) throws -> NoteVerifier? {
    if let given {
        do { return try NoteVerifier(text: given) } catch {
            printError("--verifier-key is not usable: \(error).")
            throw ExitCode.failure
        }
    }
    guard let text = configured?.signingKey else { return nil }
    do { return try NoteVerifier(text: try NoteSigner(text: text).verifierKey) } catch {
        printError("audit.signing_key_file \(configured?.signingKeyFile ?? ""): \(error).")
        throw ExitCode.failure
    }
}

/// A checkpoint someone kept (an agency, a regulator), checked against the events themselves.
enum KeptCheckpoint {
    /// A sentence on the checkpoint at `path`, and whether the log still holds what it records.
    static func check(path: String, verifier: NoteVerifier, store: any SwitchboardStore) async throws -> (String, Bool) {
        guard let note = try? String(contentsOfFile: path, encoding: .utf8) else { return ("Cannot read the checkpoint \(path).", false) }
        let tree: TreeCheckpoint
        switch verifier.checkpoint(note) {
        case .failure(let error): return ("Checkpoint \(path) is not one this log signed: \(error.description).", false)
        case .success(let checkpoint): tree = checkpoint
        }
        let head = try await store.auditHead()?.sequence ?? 0
        let roots = try await store.auditRoots(at: [tree.size, head])
        guard let root = roots[tree.size] else {
            return ("Checkpoint \(path) records \(tree.size) events but the log holds \(head): events it recorded were removed.", false)
        }
        guard root == tree.root else {
            return (
                "Checkpoint \(path) records a log of \(tree.size) events that this log is not: an event among them was edited, removed or rehashed.",
                false
            )
        }
        return (
            "Checkpoint \(path) verifies: signed by \(verifier.name), the log's first \(tree.size) events are the ones it records, and today's log of \(head) events extends it.",
            true
        )
    }
}

extension Switchboard.AuditCommand {
    struct Prove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print proofs from the audit transparency log, as JSON: that a referral's events are in it, or that it extends a checkpoint.",
            discussion: """
                With a referral id: an RFC 6962 inclusion proof for each of its audit events, against the newest signed checkpoint \\
                or, with --checkpoint, against one you kept. With --from: a consistency proof that today's log (or the --checkpoint \\
                log) extends the checkpoint kept in that file. Needs audit.signing_key_file.
                """)

        @OptionGroup var configuration: ConfigurationOptions

        @Option(help: "The storage URL, instead of the one in the configuration (sqlite:PATH).")
        var storage: String?

        @Argument(help: "The referral whose audit events to prove.")
        var referral: String?

        @Option(help: "Prove against this kept checkpoint (a signed note from /v1/audit/checkpoint) instead of the newest.")
        var checkpoint: String?

        @Option(help: "Prove that the log extends the checkpoint in this file (a consistency proof).")
        var from: String?

        func validate() throws {
            guard referral != nil || from != nil else { throw ValidationError("Give a referral id, or --from CHECKPOINT_FILE, or both.") }
        }

        func run() async throws {
            let settings = SwitchboardSettings.read(path: configuration.config, environment: [:], requireSecrets: false).settings?.auditCheckpoints
            guard let text = settings?.signingKey else {
                printError(
                    "The audit log is not a transparency log here: set audit.signing_key_file in \(configuration.config) (a key from `switchboard audit signing-key new FILE`)."
                )
                throw ExitCode.failure
            }
            let signer: NoteSigner
            do { signer = try NoteSigner(text: text) } catch {
                printError("audit.signing_key_file \(settings?.signingKeyFile ?? ""): \(error).")
                throw ExitCode.failure
            }
            let verifier = try NoteVerifier(text: signer.verifierKey)
            let store = try auditStore(configuration, storage: storage)
            let log = TransparencyLog(store: store, signer: signer)
            try await log.integrate()
            let size = try checkpoint.map { try keptSize($0, verifier: verifier) }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            do {
                if let referral {
                    let proofs = try await log.prove(
                        referral: ReferralID(referral), size: size, reader: .init(keyId: "command line (\(NSUserName()))", role: .admin))
                    print(String(decoding: try encoder.encode(proofs), as: UTF8.self))
                }
                if let from {
                    print(
                        String(
                            decoding: try encoder.encode(try await log.consistency(old: try keptSize(from, verifier: verifier), new: size)),
                            as: UTF8.self))
                }
            } catch let refusal as TransparencyLog.Refusal {
                switch refusal {
                case .noSuchReferral: printError("There is no referral \(referral ?? "") in this store.")
                case .beyondLog(let asked, let have):
                    printError("The checkpoint records \(asked) events, but the log has integrated \(have): events it recorded were removed.")
                case .backwards(let old, let new): printError("The older checkpoint (\(old) events) is larger than the newer (\(new)).")
                }
                throw ExitCode.failure
            }
        }

        private func keptSize(_ path: String, verifier: NoteVerifier) throws -> Int64 {
            guard let note = try? String(contentsOfFile: path, encoding: .utf8) else {
                printError("Cannot read the checkpoint \(path).")
                throw ExitCode.failure
            }
            switch verifier.checkpoint(note) {
            case .success(let tree): return tree.size
            case .failure(let error):
                printError("Checkpoint \(path) is not one this log signed: \(error.description).")
                throw ExitCode.failure
            }
        }
    }

    struct SigningKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "signing-key", abstract: "Make the Ed25519 key that signs the audit log's checkpoints.", subcommands: [New.self])

        struct New: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Write a new audit signing key to FILE (readable by its owner only) and print its verifier key.",
                discussion: "Point audit.signing_key_file at FILE; give the verifier key to anyone who will check the log's checkpoints.")

            @Argument(help: "The file to write; it must not exist.")
            var file: String

            @Option(
                help: "The log's name (its origin), such as switchboard.oxfordshire.example/audit. Default: this host's name and /switchboard-audit.")
            var origin: String?

            func run() async throws {
                let name = origin ?? "\(ProcessInfo.processInfo.hostName)/switchboard-audit"
                let text: String
                do { text = try NoteSigner.generate(name: name) } catch {
                    printError("Cannot make the key: \(error).")
                    throw ExitCode.failure
                }
                guard !FileManager.default.fileExists(atPath: file) else {
                    printError("\(file) already exists: a signing key is never overwritten (checkpoints signed with it could no longer be checked).")
                    throw ExitCode.failure
                }
                guard FileManager.default.createFile(atPath: file, contents: Data((text + "\n").utf8), attributes: [.posixPermissions: 0o600])
                else {
                    printError("Cannot write \(file).")
                    throw ExitCode.failure
                }
                print("Wrote the audit signing key for \(name) to \(file). Its verifier key, for those who check the log:")
                print(try NoteSigner(text: text).verifierKey)
            }
        }
    }

    struct VerifierKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verifier-key", abstract: "Print the note verifier key of the configured audit signing key.")

        @OptionGroup var configuration: ConfigurationOptions

        func run() async throws {
            let settings = SwitchboardSettings.read(path: configuration.config, environment: [:], requireSecrets: false).settings?.auditCheckpoints
            guard settings?.signingKeyFile != nil else {
                printError("\(configuration.config) sets no audit.signing_key_file: the audit log is not a transparency log.")
                throw ExitCode.failure
            }
            guard let text = settings?.signingKey else {
                printError("Cannot read the audit signing key \(settings?.signingKeyFile ?? "").")
                throw ExitCode.failure
            }
            do { print(try NoteSigner(text: text).verifierKey) } catch {
                printError("audit.signing_key_file \(settings?.signingKeyFile ?? ""): \(error).")
                throw ExitCode.failure
            }
        }
    }
}
