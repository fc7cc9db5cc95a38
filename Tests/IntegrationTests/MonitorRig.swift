import Foundation
import LDAPClient
import ManagedSlapd
import Synchronization
import TestSupport
import Testing

/// The built fleet simulator.
let fleetSimBinary: String = ProcessInfo.processInfo.environment["TOLLGATE_FLEET_SIM_BIN"]
    ?? repositoryRoot.appendingPathComponent(".build/debug/tollgate-fleet-sim").path

/// A real `tollgate serve` (managed slapd, demo tenants, mail through aiosmtpd) polling a
/// `tollgate-fleet-sim` fleet whose converter entries the simulator created under tenant
/// 1001 (`noc@example.net`). The server can be killed with -9 and restarted on the same
/// data directory and ports.
final class MonitorRig: Sendable {
    let data: String
    let httpsPort: Int
    let ldapPort: Int
    let smtp: SMTPTestServer
    let serveArguments: [String]
    private let server = Mutex<Process?>(nil)
    private let simulator = Mutex<Process?>(nil)
    let controlPort: Int
    let names: [String]

    static func start(converters: Int, recordInterval: Double, serve extra: [String]) async throws -> MonitorRig {
        try #require(FileManager.default.isExecutableFile(atPath: tollgateBinary), "build tollgate first: \(tollgateBinary)")
        try #require(FileManager.default.isExecutableFile(atPath: fleetSimBinary), "build tollgate-fleet-sim first: \(fleetSimBinary)")
        let smtpPort = freePort()
        let smtp = try await SMTPTestServer(port: smtpPort, directory: temporaryDirectory("smtp"))
        let data = temporaryDirectory("mon")
        let arguments = ["--demo", "--smtp-host", "127.0.0.1", "--smtp-port", String(smtpPort), "--smtp-starttls", "off",
                         "--mail-from", "tollgate@tollgate.example", "--mail-poll-interval", "0.2", "--mail-retry-initial", "0.3",
                         "--mail-retry-max", "1"] + extra
        let rig = try await MonitorRig(data: data, smtp: smtp, serveArguments: arguments, converters: converters, recordInterval: recordInterval)
        return rig
    }

    private init(data: String, smtp: SMTPTestServer, serveArguments: [String], converters: Int, recordInterval: Double) async throws {
        self.data = data
        self.smtp = smtp
        self.serveArguments = serveArguments
        httpsPort = freePort()
        ldapPort = freePort()
        let first = try await Self.launchServe(data: data, httpsPort: httpsPort, ldapPort: ldapPort, arguments: serveArguments)
        server.withLock { $0 = first }
        let ready = data + "/fleet-ready.json"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: fleetSimBinary)
        process.arguments = ["--data", data, "--count", String(converters), "--record-interval", String(recordInterval),
                             "--create-entries", "--ready-file", ready]
        let log = data + "/fleet-sim.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: log)
        process.standardError = FileHandle(forWritingAtPath: log)
        try process.run()
        ProcessCleanup.atExit(process.processIdentifier, signal: SIGKILL)
        simulator.withLock { $0 = process }
        var info: [String: Any]?
        for _ in 0..<1200 {
            if let bytes = FileManager.default.contents(atPath: ready) {
                info = try JSONSerialization.jsonObject(with: bytes) as? [String: Any]
                break
            }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        guard let info, let control = info["control"] as? Int, let list = info["converters"] as? [[String: Any]] else {
            Issue.record("fleet simulator did not come up: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
            throw CancellationError()
        }
        controlPort = control
        names = list.compactMap { $0["name"] as? String }
    }

    private static func launchServe(data: String, httpsPort: Int, ldapPort: Int, arguments: [String]) async throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tollgateBinary)
        process.arguments = ["serve", "--data", data, "--port", String(httpsPort), "--ldap-port", String(ldapPort)] + arguments
        let log = URL(fileURLWithPath: data + ".log")
        if !FileManager.default.fileExists(atPath: log.path) { _ = FileManager.default.createFile(atPath: log.path, contents: nil) }
        let handle = try FileHandle(forWritingTo: log)
        try handle.seekToEnd()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        ProcessCleanup.atExit(process.processIdentifier, signal: SIGTERM)
        if !startedPidFiles.contains(data + "/run/slapd.pid") { startedPidFiles.append(data + "/run/slapd.pid") }
        for _ in 0..<600 {
            let probe = try await run("/usr/bin/curl", ["-s", "-m", "2", "--cacert", data + "/pki/root-ca.pem",
                                                        "https://127.0.0.1:\(httpsPort)/healthz"])
            if probe.output.contains("\"status\":\"ok\"") { return process }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("tollgate serve did not come up: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
        throw CancellationError()
    }

    /// kill -9 of `tollgate serve` (its managed slapd keeps running).
    func killServe() async {
        let process = server.withLock { $0 }
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        for _ in 0..<200 where process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
    }

    /// Starts `tollgate serve` again on the same data directory and ports.
    func restartServe() async throws {
        let process = try await Self.launchServe(data: data, httpsPort: httpsPort, ldapPort: ldapPort, arguments: serveArguments)
        server.withLock { $0 = process }
    }

    /// The simulator's control API (`GET /totals`, `POST /stop/NAME`, …).
    @discardableResult
    func control(_ method: String, _ path: String) async throws -> [String: Any] {
        let output = try await run("/usr/bin/curl", ["-s", "-m", "10", "-X", method, "http://127.0.0.1:\(controlPort)\(path)"])
        return (try? JSONSerialization.jsonObject(with: Data(output.output.utf8)) as? [String: Any]) ?? [:]
    }

    /// A client of the managed slapd (service account over ldapi).
    var directory: LDAPClient { ManagedSlapd(dataDirectory: data).client(maximumConnections: 2) }

    /// Converter name → tgHealth of tenant 1001's simulated converters.
    func healths() async throws -> [String: String] {
        let client = directory
        defer { Task { await client.close() } }
        let entries = try await client.search(base: "ou=converters,tgOrgNumber=1001,ou=subscribers,dc=tollgate", scope: .oneLevel,
                                              filter: .substring("cn", initial: "sim-", any: [], final: nil), attributes: ["cn", "tgHealth"])
        var result: [String: String] = [:]
        for entry in entries { if let name = entry["cn"] { result[name] = entry["tgHealth"] ?? "" } }
        return result
    }

    /// Mails received whose subject names `converter`.
    func mails(about converter: String) throws -> [ReceivedMail] {
        try smtp.received().filter { $0.subject.contains("Converter \(converter) ") || $0.subject.contains("Converter \(converter):") }
    }

    func log() -> String { (try? String(contentsOfFile: data + ".log", encoding: .utf8)) ?? "" }

    /// The numbers of every "probe cycle" line the server logged (`pages`, `transactions`,
    /// `largestBatch`, `failedBatches`, `records`, …).
    func cycleCounts() -> [[String: Int]] {
        log().split(separator: "\n").filter { $0.contains("probe cycle") }.map { line in
            var values: [String: Int] = [:]
            for word in line.split(separator: " ") {
                let parts = word.split(separator: "=", maxSplits: 1)
                if parts.count == 2, let value = Int(parts[1]) { values[String(parts[0])] = value }
            }
            return values
        }
    }

    func stop() async {
        if let process = server.withLock({ $0 }), process.isRunning {
            process.terminate()
            for _ in 0..<500 where process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
        }
        if let process = simulator.withLock({ $0 }), process.isRunning { kill(process.processIdentifier, SIGKILL) }
        await smtp.stop()
        // A killed server leaves its managed slapd running: stop it too.
        _ = try? await ManagedSlapd(dataDirectory: data).stop()
    }
}
