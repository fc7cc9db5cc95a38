import ProcessSpawning
import Foundation
import ManagedSlapd
import TestSupport
import Testing

/// `tollgate-agent enroll` and `renew` against a real `tollgate serve` (EST over HTTPS).
@Suite("tollgate-agent enroll and renew", .serialized)
struct AgentEnrollTests {
    @Test("enroll conv-a of 1001: 0700 dir, 0600 key, a certificate for CN=conv-a, ca.pem and agent.json; renew: new serial and key")
    func enrollAndRenew() async throws {
        let server = try await AgentTollgate.get()
        let (dir, result) = try await enrollAgent(server, subscriberId: "1001-01", signature: "demo-signature-1001\n", converter: "conv-a")
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("enrolled conv-a of organisation 1001"))
        #expect(fileMode(dir) == 0o700)
        #expect(fileMode(dir + "/agent.key") == 0o600)
        #expect(fileMode(dir + "/agent.pem") == 0o644)
        let subject = try await run("/usr/bin/openssl", ["x509", "-in", dir + "/agent.pem", "-noout", "-subject", "-serial"])
        #expect(subject.output.contains("CN = conv-a"), "\(subject.output)")
        #expect(subject.output.contains("OU = 1001"))
        let verify = try await run("/usr/bin/openssl", ["verify", "-CAfile", server.rootCA, "-untrusted", server.issuingCA, dir + "/agent.pem"])
        #expect(verify.output.contains(": OK"), "\(verify.output)")
        // The key is the certificate's: same public key.
        let certKey = try await run("/bin/sh", ["-c", "openssl x509 -in \(dir)/agent.pem -noout -pubkey"])
        let ownKey = try await run("/bin/sh", ["-c", "openssl pkey -in \(dir)/agent.key -pubout"])
        #expect(certKey.output == ownKey.output && certKey.output.contains("PUBLIC KEY"))
        // ca.pem: root then issuing CA, the root equal to the server's.
        let ca = try String(contentsOfFile: dir + "/ca.pem", encoding: .utf8)
        #expect(ca.components(separatedBy: "BEGIN CERTIFICATE").count == 3)
        let root = try String(contentsOfFile: server.rootCA, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(ca.hasPrefix(root))
        let settings = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/agent.json"))) as? [String: Any])
        #expect(settings["server"] as? String == server.url)
        #expect(settings["converter"] as? String == "conv-a")
        #expect(settings["org"] as? String == "1001")
        let serial = try #require(settings["serial"] as? String)
        #expect(subject.output.lowercased().contains("serial=\(serial)"))

        // A second enroll into the same directory is refused unless --force.
        let again = try await enrollAgent(server, subscriberId: "1001-01", signature: "demo-signature-1001", converter: "conv-a")
        #expect(again.result.status == 0)
        let signature = URL(fileURLWithPath: again.dir).deletingLastPathComponent().path + "/signature"
        let refused = try await agent(["enroll", "--server", server.url, "--converter", "conv-a", "--subscriber-id", "1001-01",
                                       "--signature-file", signature, "--dir", again.dir, "--ca-file", server.rootCA])
        #expect(refused.status == 64 && refused.output.contains("already holds an enrolment"), "\(refused.output)")

        // renew: a new key and a new serial; the directory stays consistent.
        let keyBefore = try String(contentsOfFile: dir + "/agent.key", encoding: .utf8)
        let renewed = try await agent(["renew", "--dir", dir])
        #expect(renewed.status == 0, "\(renewed.output)")
        let after = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/agent.json"))) as? [String: Any])
        let newSerial = try #require(after["serial"] as? String)
        #expect(newSerial != serial)
        #expect(renewed.output.contains("certificate \(newSerial) (was \(serial))"))
        #expect(try String(contentsOfFile: dir + "/agent.key", encoding: .utf8) != keyBefore)
        #expect(fileMode(dir + "/agent.key") == 0o600)
        let newSubject = try await run("/usr/bin/openssl", ["x509", "-in", dir + "/agent.pem", "-noout", "-subject", "-serial"])
        #expect(newSubject.output.lowercased().contains("serial=\(newSerial)"))
        #expect(newSubject.output.contains("CN = conv-a"))
        let newCertKey = try await run("/bin/sh", ["-c", "openssl x509 -in \(dir)/agent.pem -noout -pubkey"])
        let newOwnKey = try await run("/bin/sh", ["-c", "openssl pkey -in \(dir)/agent.key -pubout"])
        #expect(newCertKey.output == newOwnKey.output && newCertKey.output != certKey.output)
        #expect(!FileManager.default.fileExists(atPath: dir + "/agent.key.next") && !FileManager.default.fileExists(atPath: dir + "/agent.pem.next"))
        // The server recorded the new certificate as conv-a's current one.
        let listed = try await server.admin(["certificate", "list", "--org", "1001", "--json"])
        #expect(listed.output.contains(newSerial), "\(listed.output)")
    }

    @Test("a wrong signature: exit 3 and a message naming the subscriber ID and what to check; nothing written")
    func wrongSignature() async throws {
        let server = try await AgentTollgate.get()
        let (dir, result) = try await enrollAgent(server, subscriberId: "1001-01", signature: "not-the-signature", converter: "conv-b")
        #expect(result.status == 3, "\(result.output)")
        #expect(result.output.contains("tollgate-agent: error: refused by the server (HTTP 401)"), "\(result.output)")
        #expect(result.output.contains("subscriber ID \"1001-01\""))
        #expect(result.output.contains("--signature-file"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/agent.key"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/agent.pem"))
    }

    @Test("a converter of another subscriber: exit 3 with the server's 403 reason")
    func foreignConverter() async throws {
        let server = try await AgentTollgate.get()
        let (_, result) = try await enrollAgent(server, subscriberId: "1001-01", signature: "demo-signature-1001", converter: "conv-c")
        #expect(result.status == 3, "\(result.output)")
        #expect(result.output.contains("HTTP 403") && result.output.contains("conv-c"), "\(result.output)")
    }

    @Test("trust: a wrong --ca-file or --ca-fingerprint fails with exit 7; the right fingerprint and --insecure-first-contact work")
    func trust() async throws {
        let server = try await AgentTollgate.get()
        let org = try await makeTenant(server, converters: ["t-1": "192.0.2.61", "t-2": "192.0.2.62"], signature: "trust-signature")
        // Another CA (made by strongSwan's pki) as --ca-file: TLS verification fails.
        let other = try await StrongSwanTestPKI.create(in: temporaryDirectory("otherca"))
        let work = temporaryDirectory("trust")
        try "trust-signature".write(toFile: work + "/sig", atomically: true, encoding: .utf8)
        func enroll(_ converter: String, _ trust: [String]) async throws -> ProcessOutput {
            try await agent(["enroll", "--server", server.url, "--converter", converter, "--subscriber-id", "\(org)-01",
                             "--signature-file", work + "/sig", "--dir", work + "/" + converter + "-\(UInt32.random(in: 0...UInt32.max))"] + trust)
        }
        let badFile = try await enroll("t-1", ["--ca-file", other.caCertificate])
        #expect(badFile.status == 7, "\(badFile.output)")
        #expect(badFile.output.contains("TLS"), "\(badFile.output)")
        let badPrint = try await enroll("t-1", ["--ca-fingerprint", String(repeating: "AB", count: 32)])
        #expect(badPrint.status == 7 && badPrint.output.contains("not AB:AB"), "\(badPrint.output)")
        let fingerprint = try await run("/usr/bin/openssl", ["x509", "-in", server.rootCA, "-noout", "-fingerprint", "-sha256"])
        let goodPrint = try await enroll("t-1", ["--ca-fingerprint", fingerprint.output.trimmingCharacters(in: .whitespacesAndNewlines)])
        #expect(goodPrint.status == 0, "\(goodPrint.output)")
        let firstContact = try await enroll("t-2", ["--insecure-first-contact"])
        #expect(firstContact.status == 0, "\(firstContact.output)")
        let printed = fingerprint.output.split(separator: "=").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? "?"
        #expect(firstContact.output.contains("fingerprint \(printed)"), "\(firstContact.output)")
        let none = try await enroll("t-2", [])
        #expect(none.status == 64 && none.output.contains("--ca-file"), "\(none.output)")
    }

    @Test("a subscription under review: 202 is retried within --wait-pending, then exit 5 with a clear message")
    func pending() async throws {
        let server = try await AgentTollgate.get()
        let org = uniqueOrgNumber()
        #expect(try await server.admin(["subscriber", "add", "--org", org, "--id", "\(org)-01", "--name", "Pending Org",
                                        "--mail", "p@test.example", "--state", "pending", "--signature", "pending-signature"]).status == 0)
        #expect(try await server.admin(["converter", "add", "--org", org, "--name", "p-1", "--address", "192.0.2.70"]).status == 0)
        let (dir, immediate) = try await enrollAgent(server, subscriberId: "\(org)-01", signature: "pending-signature", converter: "p-1")
        #expect(immediate.status == 5, "\(immediate.output)")
        #expect(immediate.output.contains("still under review") && immediate.output.contains("--wait-pending"), "\(immediate.output)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/agent.key"))
        let (_, waited) = try await enrollAgent(server, subscriberId: "\(org)-01", signature: "pending-signature", converter: "p-1",
                                                extra: ["--wait-pending", "1"])
        #expect(waited.status == 5, "\(waited.output)")
        #expect(waited.output.contains("retrying in 1 s (server asked for 42 s)"), "\(waited.output)")
        #expect(waited.output.contains("after 2 attempts"), "\(waited.output)")
    }

    @Test("an RSA key on request; renew keeps the key type")
    func rsa() async throws {
        let server = try await AgentTollgate.get()
        let org = try await makeTenant(server, converters: ["r-1": "192.0.2.71"], signature: "rsa-signature")
        let (dir, result) = try await enrollAgent(server, subscriberId: "\(org)-01", signature: "rsa-signature", converter: "r-1",
                                                  extra: ["--key-type", "rsa2048"])
        #expect(result.status == 0, "\(result.output)")
        let text = try await run("/usr/bin/openssl", ["x509", "-in", dir + "/agent.pem", "-noout", "-text"])
        #expect(text.output.contains("rsaEncryption") && text.output.contains("2048 bit"), "\(text.output)")
        #expect(try await agent(["renew", "--dir", dir]).status == 0)
        let renewed = try await run("/usr/bin/openssl", ["x509", "-in", dir + "/agent.pem", "-noout", "-text"])
        #expect(renewed.output.contains("rsaEncryption"))
    }

    @Test("renew without an enrolment, or with a key readable by others: exit 6 saying what to do")
    func localFiles() async throws {
        let missing = try await agent(["renew", "--dir", temporaryDirectory("empty") + "/none"])
        #expect(missing.status == 6 && missing.output.contains("enroll"), "\(missing.output)")
        let server = try await AgentTollgate.get()
        let org = try await makeTenant(server, converters: ["l-1": "192.0.2.72"], signature: "local-signature")
        let (dir, result) = try await enrollAgent(server, subscriberId: "\(org)-01", signature: "local-signature", converter: "l-1")
        #expect(result.status == 0, "\(result.output)")
        chmod(dir + "/agent.key", 0o644)
        let open = try await agent(["renew", "--dir", dir])
        #expect(open.status == 6 && open.output.contains("chmod 600"), "\(open.output)")
    }

    @Test("run re-enrols before expiry: with --renew-before-days beyond the lifetime it renews once at start and reports it in state.json")
    func runRenews() async throws {
        let server = try await AgentTollgate.get()
        let org = try await makeTenant(server, converters: ["auto-1": "192.0.2.73"], signature: "auto-signature")
        let (dir, result) = try await enrollAgent(server, subscriberId: "\(org)-01", signature: "auto-signature", converter: "auto-1")
        #expect(result.status == 0, "\(result.output)")
        let before = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/agent.json"))) as? [String: Any])
        let oldSerial = try #require(before["serial"] as? String)
        let process = try BackgroundProcess.spawn(agentBinary, ["run", "--dir", dir, "--renew-before-days", "400", "--poll-wait", "1"],
                                                  outputPath: dir + "/agent.log")
        let renewed = await eventually(timeout: .seconds(20)) {
            guard let serial = agentState(dir)?["certificateSerial"] as? String else { return false }
            return serial != oldSerial
        }
        // Still the same new certificate a little later: one renewal, not a loop.
        try await Task.sleep(for: .seconds(2))
        await process.stop()
        let log = (try? String(contentsOfFile: dir + "/agent.log", encoding: .utf8)) ?? ""
        #expect(renewed, "\(log)")
        let after = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/agent.json"))) as? [String: Any])
        let newSerial = try #require(after["serial"] as? String)
        #expect(newSerial != oldSerial)
        #expect(agentState(dir)?["certificateSerial"] as? String == newSerial)
        #expect(log.components(separatedBy: "certificate renewed").count == 2, "exactly one renewal:\n\(log)")
        #expect(fileMode(dir + "/agent.key") == 0o600)
        let listed = try await server.admin(["certificate", "list", "--org", org, "--json"])
        #expect(listed.output.contains(newSerial), "\(listed.output)")
    }
}
