import ProcessSpawning
import Foundation
import LDAPClient
import ManagedSlapd
import TestSupport
import Testing

/// A `tollgate serve` process with its own managed slapd and the demo directory, shared
/// by the suites that talk to the server over HTTPS (EST, PKI).
struct TollgateProcess: Sendable {
    let process: Process?
    let data: String
    let httpsPort: Int
    let slapd: ManagedSlapd
    var url: String { "https://127.0.0.1:\(httpsPort)" }
    var rootCA: String { data + "/pki/root-ca.pem" }
    var issuingCA: String { data + "/pki/issuing-ca.pem" }
    var store: LDAPClient { slapd.client() }

    /// Stops the server (SIGTERM: it stops its slapd too).
    func stop() { process?.terminate() }

    /// Runs a `tollgate` admin command against this server's directory.
    func admin(_ arguments: [String]) async throws -> ProcessOutput {
        try await run(tollgateBinary, ["admin"] + arguments + ["--data", data])
    }
}

extension Process: @retroactive @unchecked Sendable {}


actor SharedTollgate {
    static let shared = SharedTollgate()
    private var instance: Task<TollgateProcess, any Error>?

    static func get() async throws -> TollgateProcess { try await shared.get() }

    func get() async throws -> TollgateProcess {
        if let instance { return try await instance.value }
        let task = Task { try await Self.start(["--demo", "--retry-after", "42"]) }
        instance = task
        return try await task.value
    }

    /// Starts `tollgate serve` with its own data directory and ports; `LDAPPORT` in
    /// `arguments` is replaced by the managed slapd's port.
    static func start(_ arguments: [String]) async throws -> TollgateProcess {
        try #require(FileManager.default.isExecutableFile(atPath: tollgateBinary), "build tollgate first: \(tollgateBinary)")
        let data = temporaryDirectory("srv")
        let httpsPort = freePort(), ldapPort = freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tollgateBinary)
        process.arguments = ["serve", "--data", data, "--port", String(httpsPort), "--ldap-port", String(ldapPort)]
            + arguments.map { $0.replacingOccurrences(of: "LDAPPORT", with: String(ldapPort)) }
        let log = URL(fileURLWithPath: data + ".log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        ProcessCleanup.atExit(process.processIdentifier, signal: SIGTERM)
        startedPidFiles.append(data + "/run/slapd.pid")
        for _ in 0..<300 {
            let probe = try await run("/usr/bin/curl", ["-s", "-m", "2", "--cacert", data + "/pki/root-ca.pem",
                                                        "https://127.0.0.1:\(httpsPort)/healthz"])
            if probe.output.contains("\"status\":\"ok\"") {
                return TollgateProcess(process: process, data: data, httpsPort: httpsPort, slapd: ManagedSlapd(dataDirectory: data))
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("tollgate serve did not come up: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
        throw CancellationError()
    }
}
