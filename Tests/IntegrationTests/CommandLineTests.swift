import ProcessSpawning
import Foundation
import LDAPClient
import ManagedSlapd
import TestSupport
import Testing

/// The built `tollgate` binary (run `swift build` first; the test script does).
let tollgateBinary: String = ProcessInfo.processInfo.environment["TOLLGATE_BIN"]
    ?? repositoryRoot.appendingPathComponent(".build/debug/tollgate").path

/// `tollgate directory …`, `tollgate admin …` and `tollgate serve` as operators run them.
@Suite("tollgate command line", .serialized)
struct CommandLineTests {
    func tollgate(_ arguments: [String]) async throws -> ProcessOutput {
        try #require(FileManager.default.isExecutableFile(atPath: tollgateBinary), "build tollgate first: \(tollgateBinary)")
        return try await run(tollgateBinary, arguments)
    }

    @Test("directory init|start|status|stop and admin verbs with --json")
    func directoryAndAdmin() async throws {
        let dir = temporaryDirectory("cli")
        let port = String(freePort())
        #expect(try await tollgate(["directory", "status", "--data", dir]).status == 4)
        let initialized = try await tollgate(["directory", "init", "--data", dir, "--ldap-port", port])
        #expect(initialized.status == 0, "\(initialized.output)")
        #expect(try await tollgate(["directory", "status", "--data", dir]).status == 3)
        let started = try await tollgate(["directory", "start", "--data", dir])
        #expect(started.status == 0, "\(started.output)")
        startedPidFiles.append(dir + "/run/slapd.pid")
        #expect(started.output.contains("ldap://127.0.0.1:\(port)"), "the port chosen at init is kept")
        let status = try await tollgate(["directory", "status", "--data", dir])
        #expect(status.status == 0)
        #expect(status.output.contains("running"))

        let add = try await tollgate(["admin", "subscriber", "add", "--data", dir, "--org", "4242", "--id", "4242-01",
                                      "--name", "CLI Org", "--mail", "cli@test.example"])
        #expect(add.status == 0, "\(add.output)")
        #expect(add.output.contains("signature (shown once"))
        #expect(try await tollgate(["admin", "converter", "add", "--data", dir, "--org", "4242", "--name", "edge-1",
                                    "--address", "198.51.100.7", "--ike-version", "2", "--ike-proposal", "aes256-sha256-modp2048"]).status == 0)
        #expect(try await tollgate(["admin", "destination", "add", "--data", dir, "--org", "4242", "--network", "10.20.0.0/16",
                                    "--protocol", "tcp", "--port", "443", "--name", "web"]).status == 0)
        let list = try await tollgate(["admin", "destination", "list", "--data", dir, "--org", "4242", "--json"])
        #expect(list.status == 0)
        let decoded = try JSONSerialization.jsonObject(with: Data(list.output.utf8)) as? [[String: Any]]
        #expect(decoded?.count == 1)
        #expect(decoded?.first?["network"] as? String == "10.20.0.0/16")
        #expect(decoded?.first?["ports"] as? [String] == ["443"])
        #expect(decoded?.first?["protocol"] as? String == "tcp")
        let show = try await tollgate(["admin", "converter", "show", "--data", dir, "--org", "4242", "--name", "edge-1", "--json"])
        let converter = try JSONSerialization.jsonObject(with: Data(show.output.utf8)) as? [String: Any]
        #expect(converter?["address"] as? String == "198.51.100.7")
        let history = try await tollgate(["admin", "history", "--data", dir, "--org", "4242", "--json"])
        #expect(history.output.contains("converter.added"))

        // Errors: stderr line naming the field, non-zero exit, nothing written.
        let bad = try await tollgate(["admin", "destination", "add", "--data", dir, "--org", "4242", "--network", "10.20.0.0/33"])
        #expect(bad.status == 1)
        #expect(bad.output.contains("destination.network"))
        let missing = try await tollgate(["admin", "converter", "show", "--data", dir, "--org", "4242", "--name", "nope"])
        #expect(missing.status == 1)
        #expect(missing.output.contains("does not exist"))
        #expect(try await tollgate(["admin", "subscriber", "list", "--data", dir + "-absent"]).status != 0)

        // The same directory over --ldap-url with the service account's password.
        let remote = try await tollgate(["admin", "subscriber", "list", "--ldap-url", "ldap://127.0.0.1:\(port)",
                                         "--bind-dn", "cn=tollgate,ou=services,dc=tollgate",
                                         "--password-file", dir + "/secrets/service.password", "--json"])
        #expect(remote.status == 0, "\(remote.output)")
        #expect(remote.output.contains("\"orgNumber\" : \"4242\""))

        #expect(try await tollgate(["admin", "subscriber", "remove", "--data", dir, "--org", "4242"]).status == 0)
        #expect(try await tollgate(["directory", "stop", "--data", dir]).status == 0)
        #expect(try await tollgate(["directory", "status", "--data", dir]).status == 3)
    }

    @Test("serve starts the managed slapd, loads the demo, answers /healthz over HTTPS and stops slapd on SIGTERM")
    func serve() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: tollgateBinary), "build tollgate first")
        let dir = temporaryDirectory("serve")
        let httpPort = freePort(), ldapPort = freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tollgateBinary)
        process.arguments = ["serve", "--data", dir, "--demo", "--port", String(httpPort), "--ldap-port", String(ldapPort)]
        let log = URL(fileURLWithPath: dir + ".log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        startedPidFiles.append(dir + "/run/slapd.pid")

        var body = ""
        for _ in 0..<200 {
            // HTTPS with the server certificate from Tollgate's own CA (created on first start).
            let probe = try await run("/usr/bin/curl", ["-s", "-m", "2", "--cacert", dir + "/pki/root-ca.pem",
                                                        "https://127.0.0.1:\(httpPort)/healthz"])
            if probe.status == 0 && !probe.output.isEmpty { body = probe.output; break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(body.contains("\"status\":\"ok\""), "healthz: \(body); log: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
        let slapd = ManagedSlapd(dataDirectory: dir)
        #expect(slapd.runningPID() != nil)
        #expect(slapd.ldapPort == ldapPort)
        // The demo tenants were loaded.
        let search = try await run("/usr/bin/ldapsearch", ["-LLL", "-x", "-H", "ldap://127.0.0.1:\(ldapPort)",
            "-D", "tgOrgNumber=1001,ou=subscribers,dc=tollgate", "-w", "demo-signature-1001",
            "-b", "tgOrgNumber=1001,ou=subscribers,dc=tollgate", "(cn=conv-a)", "cn"])
        #expect(search.output.contains("cn: conv-a"))

        process.terminate()  // SIGTERM: graceful shutdown
        for _ in 0..<100 where process.isRunning { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!process.isRunning)
        #expect(slapd.runningPID() == nil, "serve stopped the slapd it started")
        try? handle.close()
    }
}
