import APIDocuments
import ArgumentParser
import Foundation
import ReferralModel
import Storage
import UseCases

/// Where approval is required: one administrator proposes a change, another approves it.
struct ProposeCommand<Kind: GovernedKind>: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "propose",
            abstract:
                "Propose a \(Kind.document.fileName) for a second administrator to approve: validated in full now, against the live version, and again when approved."
        )
    }

    @OptionGroup var options: GatewayOptions

    @Option(
        name: .customLong("if-match"), help: "Propose against this live version (as `diff` printed); default: the version live now.")
    var ifMatch: String?

    @Argument(help: "The proposed file.")
    var file: String

    func run() async throws {
        let text = try readRulesFile(file)
        let client = Kind.client(options)
        let expected = try await client.version(ifMatch)
        let response = try await client.send(
            "\(client.base)/proposals", method: "POST", headers: [("Content-Type", "application/yaml"), ("If-Match", "\"\(expected)\"")],
            body: Array(text.utf8))
        guard response.status == 201 else { throw reportRulesProblem(response, file: file) }
        let document = try JSONDecoder().decode(ProposalDocument.self, from: Data(response.body))
        print("Proposal \(document.proposal.id): \(document.proposal.summary)")
        print(document.diff, terminator: "")
        print("Another administrator approves it with: switchboard \(Kind.name) approve \(document.proposal.id)")
    }
}

struct ProposalsCommand<Kind: GovernedKind>: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "proposals", abstract: "List proposed \(Kind.name) changes, newest first, or show one with its diff against what is live.")
    }

    @OptionGroup var options: GatewayOptions

    @Argument(help: "A proposal id, to show it in full.")
    var id: String?

    func run() async throws {
        let client = Kind.client(options)
        if let id {
            let document = try await client.get("\(client.base)/proposals/\(id)", as: ProposalDocument.self)
            describe(document.proposal)
            print(document.diff, terminator: "")
            return
        }
        let proposals = try await client.get("\(client.base)/proposals", as: ProposalList.self).proposals
        if proposals.isEmpty { print("No \(Kind.name) proposals.") }
        for proposal in proposals { describe(proposal) }
    }

    func describe(_ proposal: ChangeProposal) {
        print("\(proposal.id)  \(proposal.state.rawValue)  proposed \(proposal.proposedAt) by \(proposal.proposedBy) against \(proposal.baseVersion)")
        print("      \(proposal.summary)")
        if let decision = proposal.decision {
            print("      \(decision.state.rawValue) \(decision.at) by \(decision.by)" + (decision.reason.map { ": \($0)" } ?? ""))
        }
    }
}

struct ApproveCommand<Kind: GovernedKind>: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "approve",
            abstract:
                "Approve another administrator's proposed \(Kind.name) change: it goes live if the \(Kind.name) have not changed since it was proposed."
        )
    }

    @OptionGroup var options: GatewayOptions

    @Argument(help: "The proposal id, as `proposals` lists it.")
    var id: String

    func run() async throws {
        let client = Kind.client(options)
        let response = try await client.send("\(client.base)/proposals/\(id)/approve", method: "POST", headers: [], body: [])
        try client.report(response, file: "proposal \(id)")
    }
}

struct RejectCommand<Kind: GovernedKind>: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "reject", abstract: "Reject a proposed \(Kind.name) change (or withdraw your own), with a reason kept beside it.")
    }

    @OptionGroup var options: GatewayOptions

    @Option(help: "Why, for the proposer.")
    var reason: String?

    @Argument(help: "The proposal id, as `proposals` lists it.")
    var id: String

    func run() async throws {
        let client = Kind.client(options)
        let body = try JSONEncoder().encode(reason.map { ["reason": $0] } ?? [:])
        let response = try await client.send(
            "\(client.base)/proposals/\(id)/reject", method: "POST", headers: [("Content-Type", "application/json")], body: Array(body))
        guard response.status == 200 else { throw reportRulesProblem(response, file: nil) }
        print("Proposal \(id) is rejected; nothing changed.")
    }
}
