import ArgumentParser
import Audit
import Deployment
import Foundation
import ReferralModel
import Settings
import Storage
import UseCases

extension Switchboard {
    struct AuditCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "audit", abstract: "Read and check the audit trail.",
            subcommands: [Verify.self, Show.self, Export.self, Tail.self, Prove.self, SigningKey.self, VerifierKey.self])
    }
}

extension Switchboard.AuditCommand {
    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Check the audit log's hash chain and name the first event that was edited, deleted or moved; then check it against the signed checkpoints, which show the newest events deleted or the chain rewritten."
        )

        @OptionGroup var configuration: ConfigurationOptions

        @Option(help: "The storage URL, instead of the one in the configuration (sqlite:PATH).")
        var storage: String?

        @Option(help: "The checkpoint file, instead of the configuration's audit.checkpoint_file.")
        var checkpoints: String?

        @Option(name: .customLong("key-env"), help: "The environment variable holding the checkpoint key, instead of audit.key_env.")
        var keyEnv: String?

        @Option(
            name: .customLong("checkpoint"),
            help:
                "A signed checkpoint kept from /v1/audit/checkpoint (repeatable): check that the log still holds exactly what it records, and that today's log extends it."
        )
        var kept: [String] = []

        @Option(
            name: .customLong("verifier-key"),
            help: "The log's note verifier key (from `switchboard audit verifier-key`), instead of the configuration's signing key.")
        var verifierKey: String?

        func run() async throws {
            let location = try configuration.storageLocation(override: storage)
            if case .sqlite(let path) = location, !FileManager.default.fileExists(atPath: path) {
                printError("There is no database at \(path): has the gateway run with this configuration?")
                throw ExitCode.failure
            }
            let store = try configuration.openStore(override: storage)
            let configured = SwitchboardSettings.read(path: configuration.config, environment: [:], requireSecrets: false).settings?.auditCheckpoints
            let verifier = try noteVerifier(given: verifierKey, configured: configured)
            let file = checkpoints ?? configured?.file
            let name = keyEnv ?? configured?.keyEnv
            var checkpointFile: CheckpointFile?
            if let file, name != nil || verifier != nil {
                var key: String?
                if let name {
                    guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
                        printError("Set \(name) to the audit checkpoint key: without it the chain cannot be checked against \(file).")
                        throw ExitCode.failure
                    }
                    key = value
                }
                checkpointFile = CheckpointFile(path: file, secret: key, verifier: verifier, interval: configured?.seconds ?? 60)
            }
            var failed = false
            for path in kept {
                guard let verifier else {
                    printError("Give --verifier-key (or configure audit.signing_key_file) to check the checkpoint \(path).")
                    throw ExitCode.failure
                }
                let (line, ok) = try await KeptCheckpoint.check(path: path, verifier: verifier, store: store)
                print(line)
                failed = failed || !ok
            }
            let verification = try await AuditTrail(store: store, checkpoints: checkpointFile).verify()
            let anchored = verification.anchored
            switch verification.verdict {
            case .intact(let events, let head):
                print(
                    "Audit chain intact: \(events) events, head \(head)"
                        + (anchored
                            ? "; it matches every signed checkpoint."
                            : ". No checkpoint file is configured, so deleting the newest events would not show."))
            case .broken(let sequence, let reason):
                print("Audit chain BROKEN at event \(sequence): \(reason).")
                throw ExitCode.failure
            }
            if failed { throw ExitCode.failure }
        }
    }
}

/// The store a command reads the audit trail from, or a sentence and a non-zero exit.
func auditStore(_ configuration: ConfigurationOptions, storage: String?) throws -> any SwitchboardStore {
    let location = try configuration.storageLocation(override: storage)
    if case .sqlite(let path) = location, !FileManager.default.fileExists(atPath: path) {
        printError("There is no database at \(path): has the gateway run with this configuration?")
        throw ExitCode.failure
    }
    return try configuration.openStore(override: storage)
}

extension Switchboard.AuditCommand {
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "One referral's whole story: each agency's state, its timeline of audit events, and the notes people wrote. The read is audited.")

        @OptionGroup var configuration: ConfigurationOptions

        @Option(help: "The storage URL, instead of the one in the configuration (sqlite:PATH).")
        var storage: String?

        @Argument(help: "The referral id.")
        var referral: String

        func run() async throws {
            let store = try auditStore(configuration, storage: storage)
            guard Identifier.isWellFormed(referral), let report = try await store.report(referralId: ReferralID(referral)) else {
                printError("There is no referral \(referral) in this store.")
                throw ExitCode.failure
            }
            try await store.appendAudit([
                AuditNarrative.referralViewed(
                    referralId: ReferralID(referral), at: Date(), actor: "command line (\(NSUserName()))", as: "its audit story")
            ])
            print(
                "Referral \(report.id): \(report.status.rawValue); received \(report.receivedAt) from \(report.submittedBy); rules \(report.rulesVersion)"
            )
            for delivery in report.deliveries {
                print(
                    "  \(delivery.agency): \(delivery.state.rawValue)" + (delivery.declineReason.map { " (\($0.rawValue))" } ?? "")
                        + " (rule \(delivery.rule))")
            }
            if let attention = report.attention { print("  needs attention since \(attention.since): \(attention.reason)") }
            print("Timeline:")
            for entry in report.history {
                print("  \(entry.at)  \(entry.event)\(entry.agency.map { " [\($0)]" } ?? "")  \(entry.detail ?? "")")
            }
            for note in report.notes ?? [] { print("Note \(note.id), \(note.at), \(note.kind) by \(note.author): \(note.text)") }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the audit events between two times as JSON Lines or CSV, for a governance review.")

        @OptionGroup var configuration: ConfigurationOptions

        @Option(help: "The storage URL, instead of the one in the configuration (sqlite:PATH).")
        var storage: String?

        @Option(help: "From this time (RFC 3339, inclusive).")
        var since: String?

        @Option(help: "Until this time (RFC 3339, exclusive).")
        var until: String?

        @Option(help: "jsonl or csv.")
        var format: String = "jsonl"

        @Option(help: "Write to this file instead of standard output.")
        var output: String?

        func validate() throws {
            guard AuditExport.Format(rawValue: format) != nil else { throw ValidationError("--format must be jsonl or csv.") }
            for (name, value) in [("--since", since), ("--until", until)] {
                if let value, ISO8601DateFormatter().date(from: value) == nil {
                    throw ValidationError("\(name) must be an RFC 3339 time such as 2026-11-01T00:00:00Z.")
                }
            }
        }

        func run() async throws {
            let store = try auditStore(configuration, storage: storage)
            // Audit times are written as UTC with milliseconds; compare in that form.
            func normalised(_ text: String?) -> String? { text.flatMap { ISO8601DateFormatter().date(from: $0) }.map { Timestamp.string($0) } }
            var handle = FileHandle.standardOutput
            if let output {
                guard FileManager.default.createFile(atPath: output, contents: nil), let file = FileHandle(forWritingAtPath: output) else {
                    printError("Cannot write \(output).")
                    throw ExitCode.failure
                }
                handle = file
            }
            let count = try await AuditExport.export(
                from: store, since: normalised(since), until: normalised(until), format: AuditExport.Format(rawValue: format) ?? .jsonl
            ) { handle.write(Data($0.utf8)) }
            if output != nil { print("Wrote \(count) events to \(output ?? "").") }
        }
    }

    struct Tail: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Follow the audit trail: print new events as they are written, until interrupted.")

        @OptionGroup var configuration: ConfigurationOptions

        @Option(help: "The storage URL, instead of the one in the configuration (sqlite:PATH).")
        var storage: String?

        @Option(help: "Print the last N events first.")
        var lines: Int = 10

        func run() async throws {
            let store = try auditStore(configuration, storage: storage)
            var after = max(0, (try await store.auditHead()?.sequence ?? 0) - Int64(max(0, lines)))
            while !Task.isCancelled {
                let page = try await store.auditEvents(afterSequence: after, limit: 1_000)
                for event in page {
                    emit(
                        "\(event.sequence)  \(event.at)  \(event.kind)  \(event.actor ?? "-")\(event.referralId.map { "  referral \($0)" } ?? "")  \(event.detail)"
                    )
                }
                if let last = page.last { after = last.sequence } else { try await Task.sleep(for: .seconds(1)) }
            }
        }
    }
}
