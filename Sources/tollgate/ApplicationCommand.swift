import ArgumentParser
import Directory
import Foundation
import Subscription

/// `tollgate admin application list|show|approve|reject`.
struct ApplicationCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "application", abstract: "Subscription applications: review, approve, reject.",
        subcommands: [List.self, Show.self, Approve.self, Reject.self])

    static func actor() -> String { "operator:" + (ProcessInfo.processInfo.environment["USER"] ?? "operator") }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List applications, newest first.")
        @OptionGroup var directory: DirectoryOptions
        @Option(name: .long, help: "Only applications in this state: pending, approved or rejected.") var state: String?
        @OptionGroup var output: JSONFlag

        func run() async throws {
            try await withStore(directory) { store in
                let all = try await ApplicationService(store: store).applications(state: state)
                if output.json { return try Output.json(all.map(Redacted.init)) }
                Output.table(["ID", "STATE", "ORG", "NAME", "MAIL", "CONVERTERS", "DESTINATIONS", "RECEIVED"], all.map {
                    [$0.id, $0.state, $0.orgNumber ?? "-", $0.name, $0.mail, String($0.converters.count), String($0.destinations.count),
                     ISO8601DateFormatter().string(from: $0.received)]
                })
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one application.")
        @OptionGroup var directory: DirectoryOptions
        @Argument(help: "Application ID (app-…).") var id: String
        @OptionGroup var output: JSONFlag

        func run() async throws {
            try await withStore(directory) { store in
                guard let application = try await ApplicationService(store: store).application(id: id) else {
                    throw SubscriptionError.notFound(id)
                }
                if output.json { return try Output.json(Redacted(application)) }
                Output.fields([("id", application.id), ("state", application.state), ("organisation", application.name),
                               ("mail", application.mail), ("billing method", application.billingMethod),
                               ("organisation number", application.orgNumber), ("verdict", application.verdictReason),
                               ("received", ISO8601DateFormatter().string(from: application.received))])
                for c in application.converters {
                    Output.fields([("converter", "\(c.name) \(c.address) \(c.model) \(c.firmware) IKEv\(c.ikeVersions.map(String.init).joined(separator: ",")) \(c.ikeProposals.joined(separator: ","))")])
                }
                for d in application.destinations {
                    Output.fields([("destination", "\(d.network) \(d.protocol) \(d.ports.joined(separator: ","))")])
                }
            }
        }
    }

    struct Approve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Approve a pending application: create the tenant and print its credentials once.",
            discussion: "The signature is printed once and stored only as slapd's salted hash.")
        @OptionGroup var directory: DirectoryOptions
        @Argument(help: "Application ID (app-…).") var id: String
        @OptionGroup var output: JSONFlag

        func run() async throws {
            try await withStore(directory) { store in
                let approval = try await ApplicationService(store: store).approve(id: id, actor: ApplicationCommand.actor())
                if output.json { return try Output.json(approval) }
                Output.fields([("application", approval.applicationId), ("organisation number", approval.orgNumber),
                               ("subscriber id", approval.subscriberId), ("signature", approval.signature)])
                Output.error("note: the signature is shown only now; hand it to the subscriber securely")
            }
        }
    }

    struct Reject: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Reject a pending application with a reason the applicant sees.")
        @OptionGroup var directory: DirectoryOptions
        @Argument(help: "Application ID (app-…).") var id: String
        @Option(name: .long, help: "Why (shown to the applicant as the verdict).") var reason: String

        func run() async throws {
            try await withStore(directory) { store in
                try await ApplicationService(store: store).reject(id: id, reason: reason, actor: ApplicationCommand.actor())
                print("rejected \(id)")
            }
        }
    }

    /// An application without its token hash, for `--json`.
    struct Redacted: Encodable {
        let application: Application
        init(_ application: Application) { self.application = application }
        func encode(to encoder: any Encoder) throws {
            var copy = application
            copy.statusTokenHash = nil
            try copy.encode(to: encoder)
        }
    }
}
