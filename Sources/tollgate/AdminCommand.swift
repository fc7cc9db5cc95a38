import ArgumentParser
import Directory
import Foundation
import LDAPClient

/// `tollgate admin …`: verbs on directory objects.
struct AdminCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admin",
        abstract: "Inspect and change the directory: subscribers, converters, destinations.",
        subcommands: [SubscriberCommand.self, ConverterCommand.self, DestinationCommand.self, CertificateCommand.self,
                      HistoryCommand.self, LoadCommand.self, ApplicationCommand.self, AccessCommand.self,
                      ReportCommand.self]
    )
}

/// Runs an admin action with a directory store; errors go to stderr with exit status 1.
func withStore(_ options: DirectoryOptions, _ body: (DirectoryStore) async throws -> Void) async throws {
    try await CLIError.reporting {
        let store = try options.store()
        do {
            try await body(store)
        } catch {
            await store.client.close()
            throw error
        }
        await store.client.close()
    }
}

/// Records an operator action in the history; a failure is reported, not fatal.
func recordOperatorEvent(_ store: DirectoryStore, _ type: String, orgNumber: String?, converter: String? = nil, data: [String: String]) async {
    let json = (try? JSONSerialization.data(withJSONObject: data, options: [.sortedKeys])).map { String(decoding: $0, as: UTF8.self) }
    let user = ProcessInfo.processInfo.environment["USER"] ?? "operator"
    do {
        try await store.record(HistoryEvent(type: type, orgNumber: orgNumber, converter: converter, actor: "operator:\(user)", data: json))
    } catch {
        Output.error("warning: could not record history event \(type): \(error)")
    }
}

struct JSONFlag: ParsableArguments {
    @Flag(name: .long, help: "Print JSON instead of text.")
    var json = false
}

// MARK: - load

struct LoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load", abstract: "Apply an LDIF file (content or change records) to the directory.")
    @OptionGroup var directory: DirectoryOptions
    @Argument(help: "LDIF file.") var file: String
    @Flag(name: .long, help: "Skip entries that exist already.") var skipExisting = false

    func run() async throws {
        try await withStore(directory) { store in
            let records = try LDIFParser.parse(try String(contentsOfFile: file, encoding: .utf8))
            let applied = try await store.client.apply(records, skipExisting: skipExisting)
            print("applied \(applied) of \(records.count) records from \(file)")
        }
    }
}

// MARK: - history

struct HistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history", abstract: "Show the history of a subscriber (or the global history).")
    @OptionGroup var directory: DirectoryOptions
    @Option(name: .long, help: "Organisation number (omit for the global history).") var org: String?
    @Option(name: .long, help: "Only events at or after this time (2026-11-25, 20261125000000Z, ISO 8601).") var since: String?
    @OptionGroup var output: JSONFlag

    func run() async throws {
        try await withStore(directory) { store in
            let since = try since.map { try GeneralizedTime.parse($0, field: "--since") }
            let events = try await store.history(orgNumber: org, since: since)
            if output.json { return try Output.json(events) }
            Output.table(["TIME", "TYPE", "ACTOR", "CONVERTER", "DATA"], events.map {
                [GeneralizedTime.string($0.time), $0.type, $0.actor, $0.converter ?? "", $0.data ?? ""]
            })
        }
    }
}
