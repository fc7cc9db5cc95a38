import ArgumentParser
import Directory
import Foundation
import Mail
import Reports
import Subscription

/// `tollgate admin report run`: makes a report on demand, stores its `tgReport` entry,
/// spools the mail and prints the signed link.
struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "Traffic reports: make one on demand and print its signed link.",
        subcommands: [Run.self])

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make the report of one subscriber (or all) for a period and print the signed link.",
            discussion: """
            The link is signed with DIR/secrets/report-link.key of the server's data directory (--data, or \
            --server-data with --ldap-url) and points at the public URL `tollgate serve` recorded in \
            DIR/mail-settings.json (or --public-url). The mail is spooled to DIR/outbox like verdict mails; \
            a running `tollgate serve` delivers it. An existing report of the same period is replaced and mailed again.
            """)
        @OptionGroup var directory: DirectoryOptions
        @Option(name: .long, help: "Organisation number.") var org: String?
        @Flag(name: .long, help: "Every active subscriber (instead of --org).") var all = false
        @Option(name: .long, help: "day, week or month.") var period: String
        @Option(name: .long, help: "First day of the period, YYYY-MM-DD (UTC; default: the last complete period). Must start a period (a Monday for week, the 1st for month).") var start: String?
        @Flag(name: .long, help: "Store the report and print the link, but send no mail.") var noMail = false
        @Option(name: .long, help: "The server's data directory (key, mail settings, spool) when --ldap-url is used.") var serverData: String?
        @Option(name: .long, help: "Tollgate's public base URL (default: the server's, from DIR/mail-settings.json).") var publicUrl: String?
        @Option(name: .long, help: "Days the link stays valid.") var linkDays = 30
        @Option(name: .long, help: "Reports made at a time with --all.") var jobs = 4

        func validate() throws {
            if all == (org != nil) { throw ValidationError("give either --org N or --all") }
            if directory.data == nil && serverData == nil {
                throw ValidationError("--ldap-url needs --server-data DIR (the server's data directory: link key, mail spool)")
            }
        }

        func run() async throws {
            try await withStore(directory) { store in
                let kind = try ReportPeriod.parse(period)
                let first: Date
                if let start {
                    guard let day = ReportPeriod.parseDay(start) else { throw ValidationError("--start \(start): use YYYY-MM-DD") }
                    guard kind.isStart(day) else {
                        throw ValidationError("--start \(start) does not start a \(kind.rawValue) (\(ReportPeriod.dayString(kind.start(containing: day))) does)")
                    }
                    first = day
                } else {
                    first = kind.lastComplete(before: Date())
                }
                guard let dataDirectory = serverData ?? directory.data else { throw ValidationError("give --data or --server-data") }
                let settings = MailSettings.load(directory: dataDirectory)
                guard let base = publicUrl ?? settings?.publicURL else {
                    throw ValidationError("no public URL: give --public-url (or start `tollgate serve` once on \(dataDirectory), which records it)")
                }
                let mailer = noMail ? nil : ReportMailer(spool: try MailSpool(directory: dataDirectory),
                                                         from: settings?.from ?? MailSettings.defaultFrom,
                                                         forDelivery: settings?.delivery != "outbox")
                let runner = ReportRunner(source: ReportSource(store: store), key: try ReportLink.loadOrCreateKey(dataDirectory: dataDirectory),
                                          publicURL: base, linkDays: linkDays, mailer: mailer)
                let subscribers: [Subscriber]
                if let org {
                    subscribers = [try await runner.source.subscriber(org)]
                } else {
                    subscribers = try await store.subscribers().filter { $0.state == "active" }
                }
                // Up to --jobs reports at a time (each reads its samples over its own LDAP connection).
                let noMail = self.noMail, all = self.all
                let failed = await withTaskGroup(of: Bool.self) { group -> Int in
                    var next = 0, failed = 0
                    func add() {
                        guard next < subscribers.count else { return }
                        let subscriber = subscribers[next]
                        next += 1
                        group.addTask {
                            do {
                                let outcome = try await runner.run(subscriber: subscriber, period: kind, start: first, replace: true)
                                print(all ? "\(subscriber.orgNumber) \(outcome.link)" : outcome.link)
                                if let entry = outcome.mail {
                                    Output.note("report mail to \(entry.to.joined(separator: ", ")) spooled as \(entry.id); `tollgate serve` delivers it")
                                } else if !noMail {
                                    Output.note("no report mail for \(subscriber.orgNumber) (no mail address)")
                                }
                                return true
                            } catch {
                                Output.error("report of \(subscriber.orgNumber) failed: \(error)")
                                return false
                            }
                        }
                    }
                    for _ in 0..<max(1, jobs) { add() }
                    while let ok = await group.next() {
                        if !ok { failed += 1 }
                        add()
                    }
                    return failed
                }
                if failed > 0 { throw ExitCode(1) }
            }
        }
    }
}
