import Agent
import ArgumentParser
import Foundation

struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Ask Tollgate whether a client may reach a destination (exit 0 allow, 1 deny).",
        discussion: "Errors exit with 2 or more (see `tollgate-agent --help`); a script must treat anything but 0 as \"no\".")

    @OptionGroup var dir: DirectoryOption
    @Option(help: "IPv4, IPv6 address or DNS name.") var destination: String
    @Option(name: .customLong("protocol"), help: "tcp, udp, icmp, esp or any.") var proto: String?
    @Option(help: "Destination port (tcp/udp).") var port: Int?
    @Option(help: "The client terminal's address.") var source: String?
    @Flag(help: "Print the server's JSON answer.") var json = false
    @Option(help: "Seconds to wait for the answer.") var timeout: Int = 30

    func validate() throws {
        if let port, !(0...65535).contains(port) { throw ValidationError("--port must be 0-65535") }
        if let proto, !["tcp", "udp", "icmp", "esp", "any"].contains(proto) {
            throw ValidationError("--protocol must be tcp, udp, icmp, esp or any")
        }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
    }

    func run() async throws {
        let allowed = try await Report.failing {
            let identity = try AgentIdentity.load(dir.directory)
            let client = AccessClient(client: try identity.mutualTLSClient())
            let result = try await client.check(AccessCheckRequest(source: source, destination: destination, protocol: proto, port: port),
                                                timeout: .seconds(timeout))
            let decision = result.decision
            // Every decision goes to the traffic journal (via the spool `run` ingests); a
            // failure to log never changes the answer.
            let record = JournalRecord.access(time: Date(), destination: destination, protocol: proto, port: port,
                                              allow: decision.allow, reason: decision.reason, source: source)
            do {
                try TrafficJournal.spoolAccess(record, journalDirectory: TrafficJournal.directory(of: dir.directory))
            } catch {
                Report.notice("warning: the access decision was not logged for monitoring: \(error)")
            }
            if json {
                print(result.json.trimmingCharacters(in: .whitespacesAndNewlines))
            } else {
                print("\(decision.allow ? "allow" : "deny"): \(decision.reason ?? "")")
                print("rule: \(decision.rule ?? "(none)")")
                if decision.stale == true { print("stale: the server answered from its last synced directory state") }
            }
            return decision.allow
        }
        if !allowed { throw ExitCode(1) }
    }
}
