import Agent
import ArgumentParser
import Foundation

/// `tollgate-agent`: the converter-side agent (enrol, renew, check, run).
@main
struct TollgateAgent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tollgate-agent",
        abstract: "Tollgate's converter-side agent: EST enrolment, access checks, policy-driven strongSwan tunnels.",
        discussion: """
            Exit status: 0 success (check: allow), 1 deny (check), 2 server unreachable, 3 refused (401/403), \
            4 request rejected (400/413/415), 5 server unavailable or enrolment pending, 6 local files, \
            7 TLS/trust, 8 unexpected answer, 9 strongSwan, 64 usage. See docs/agent.md.
            """,
        version: AgentVersion.string,
        subcommands: [EnrollCommand.self, RenewCommand.self, CheckCommand.self, RunCommand.self]
    )
}

/// `--dir`, shared by every verb.
struct DirectoryOption: ParsableArguments {
    @Option(name: .customLong("dir"), help: "The agent's directory (key, certificate, CA, settings, policy cache).")
    var path: String

    var directory: AgentDirectory { AgentDirectory(path: path) }
}

/// Prints an agent error as one line on stderr and exits with its status.
enum Report {
    static func failing<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as AgentError {
            FileHandle.standardError.write(Data("tollgate-agent: error: \(error)\n".utf8))
            throw ExitCode(error.exitCode)
        }
    }

    static func notice(_ text: String) {
        FileHandle.standardError.write(Data("tollgate-agent: \(text)\n".utf8))
    }
}
