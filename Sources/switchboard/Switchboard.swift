import ArgumentParser

@main
struct Switchboard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchboard",
        abstract: "Routes health and social care referrals to every organisation that must act on them.",
        subcommands: [
            Serve.self, Submit.self, Status.self, Amend.self, AuditCommand.self, Receiver.self, Adapters.self, Rules.self, Queue.self, Agencies.self,
            Directory.self, Attention.self, Prune.self, Backup.self, StorageCommand.self, Records.self, Keys.self, Simulate.self,
        ])
}
