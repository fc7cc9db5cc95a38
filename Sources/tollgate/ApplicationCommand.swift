import ArgumentParser
import Directory
import Foundation
import Mail
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
            discussion: """
            The signature is printed once and stored only as slapd's salted hash. The verdict mail (with the \
            credentials) is written to the mail spool of --data (or --mail-spool); `tollgate serve` on that \
            directory sends it, or writes it to DIR/outbox when it has no SMTP host.
            """)
        @OptionGroup var directory: DirectoryOptions
        @Argument(help: "Application ID (app-…).") var id: String
        @OptionGroup var mail: VerdictMailOptions
        @OptionGroup var output: JSONFlag

        func run() async throws {
            try await withStore(directory) { store in
                let service = ApplicationService(store: store, mailer: try mail.mailer(directory))
                let (approval, entry) = try await service.approveAndMail(id: id, actor: ApplicationCommand.actor())
                mail.report(entry, service)
                if output.json { return try Output.json(approval) }
                Output.fields([("application", approval.applicationId), ("organisation number", approval.orgNumber),
                               ("subscriber id", approval.subscriberId), ("signature", approval.signature)])
                Output.error("note: the signature is shown only now; hand it to the subscriber securely")
            }
        }
    }

    struct Reject: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Reject a pending application with a reason the applicant sees.",
            discussion: "The verdict mail is spooled like approve's.")
        @OptionGroup var directory: DirectoryOptions
        @Argument(help: "Application ID (app-…).") var id: String
        @Option(name: .long, help: "Why (shown to the applicant as the verdict and mailed).") var reason: String
        @OptionGroup var mail: VerdictMailOptions

        func run() async throws {
            try await withStore(directory) { store in
                let service = ApplicationService(store: store, mailer: try mail.mailer(directory))
                let entry = try await service.reject(id: id, reason: reason, actor: ApplicationCommand.actor())
                print("rejected \(id)")
                mail.report(entry, service)
            }
        }
    }

    /// Where `approve` and `reject` spool the verdict mail.
    struct VerdictMailOptions: ParsableArguments {
        @Option(name: .long, help: "Data directory whose mail spool (DIR/outbox) gets the verdict mail (default: --data).") var mailSpool: String?
        @Option(name: .long, help: "Sender (default: the one `tollgate serve` recorded in DIR/mail-settings.json, else tollgate@localhost).") var mailFrom: String?
        @Option(name: .long, help: "Tollgate's public URL for the mail's next steps (default: the server's, from DIR/mail-settings.json).") var publicUrl: String?
        @Flag(name: .long, help: "Send no verdict mail.") var noMail = false

        /// The mailer, or nil with --no-mail or when there is no spool directory.
        func mailer(_ directory: DirectoryOptions) throws -> ApplicationMailer? {
            guard !noMail, let spoolDirectory = mailSpool ?? directory.data else { return nil }
            let settings = MailSettings.load(directory: spoolDirectory)
            // Without settings no server has run there yet: pending/, which the first one delivers.
            return ApplicationMailer(spool: try MailSpool(directory: spoolDirectory), from: mailFrom ?? settings?.from ?? MailSettings.defaultFrom,
                                     forDelivery: settings?.delivery != "outbox", publicURL: publicUrl ?? settings?.publicURL)
        }

        func report(_ entry: SpoolEntry?, _ service: ApplicationService) {
            guard let mailer = service.mailer else {
                Output.note(noMail ? "no verdict mail (--no-mail)" : "no verdict mail: give --mail-spool DIR (the server's data directory) to spool one")
                return
            }
            guard let entry else { return }
            let path = mailer.spool.heldDirectory.appendingPathComponent("\(entry.id).eml").path
            if FileManager.default.fileExists(atPath: path) {
                Output.note("verdict mail to \(entry.to.joined(separator: ", ")) is held in \(path); a running `tollgate serve` releases it")
            } else if mailer.forDelivery {
                Output.note("verdict mail to \(entry.to.joined(separator: ", ")) spooled as \(mailer.spool.pendingDirectory.path)/\(entry.id).eml; `tollgate serve` delivers it")
            } else {
                Output.note("verdict mail to \(entry.to.joined(separator: ", ")) written to \(mailer.spool.outbox.path)/\(entry.id).eml")
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
