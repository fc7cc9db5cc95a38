import Agent
import CertificateAuthority
import Foundation
import TestSupport
import Testing

/// The monitor's client certificate (CN=tollgate-monitor, O=Tollgate), issued in the test
/// from the server's CA under its data directory, as `tollgate serve` issues it.
func issueMonitorCertificate(_ server: TollgateProcess, commonName: String = "tollgate-monitor") async throws -> (certificate: String, key: String) {
    let work = temporaryDirectory("monitor")
    let key = work + "/monitor.key", csr = work + "/monitor.csr", certificate = work + "/monitor.pem"
    let made = try await run("/usr/bin/openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                                  "-keyout", key, "-subj", "/CN=\(commonName)", "-out", csr])
    try #require(made.status == 0, "\(made.output)")
    let authority = try CertificateAuthority(directory: URL(fileURLWithPath: server.data + "/pki"))
    let issued = try authority.issue(csrBytes: Array(try String(contentsOfFile: csr, encoding: .utf8).utf8),
                                     subject: LeafSubject(commonName: commonName, organization: "Tollgate"))
    try issued.pemEncoded.write(toFile: certificate, atomically: true, encoding: .utf8)
    return (certificate, key)
}

/// One HTTPS request to an agent's status endpoint with curl; `host` is the converter's
/// address (the name its certificate carries), connected to 127.0.0.1:`port`.
struct StatusProbe: Sendable {
    let server: TollgateProcess
    let host: String
    let port: Int
    let client: (certificate: String, key: String)?

    struct Answer: Sendable {
        var code: Int
        var body: String
        var curlStatus: Int32
        var raw: String
        var json: [String: Any]? { try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] }
    }

    func get(_ path: String, method: String = "GET", client override: (certificate: String, key: String)?? = nil) async throws -> Answer {
        var arguments = ["-s", "-m", "10", "-X", method, "--cacert", server.rootCA, "--connect-to", "\(host):\(port):127.0.0.1:\(port)",
                         "-w", "\n%{http_code}"]
        if let client = override ?? client { arguments += ["--cert", client.certificate, "--key", client.key] }
        let result = try await run("/usr/bin/curl", arguments + ["https://\(host):\(port)\(path)"])
        let lines = result.output.split(separator: "\n", omittingEmptySubsequences: false)
        let code = Int(lines.last ?? "") ?? 0
        return Answer(code: code, body: lines.dropLast().joined(separator: "\n"), curlStatus: result.status, raw: result.output)
    }

    /// The records of `GET /v1/traffic?after=…&limit=…`.
    func traffic(after: UInt64, limit: Int = 10000) async throws -> (records: [[String: Any]], last: UInt64, more: Bool)? {
        let answer = try await get("/v1/traffic?after=\(after)&limit=\(limit)")
        guard answer.code == 200, let json = answer.json, let records = json["records"] as? [[String: Any]],
              let last = (json["last"] as? NSNumber)?.uint64Value, let more = json["more"] as? Bool else { return nil }
        return (records, last, more)
    }
}

func number(_ value: Any?) -> UInt64 { (value as? NSNumber)?.uint64Value ?? 0 }

@Suite("tollgate-agent monitoring endpoint", .serialized)
struct AgentMonitoringTests {
    @Test("run serves /v1/status over mTLS to the monitor only; /v1/traffic pages check's access records, acknowledges and keeps seq across restarts",
          .timeLimit(.minutes(3)))
    func statusAndAccessRecords() async throws {
        let server = try await AgentTollgate.get()
        let org = try await makeTenant(server, converters: ["mon-1": "192.0.2.91"], signature: "monitor-signature")
        #expect(try await server.admin(["destination", "add", "--org", org, "--name", "web", "--network", "10.91.0.0/16",
                                         "--protocol", "tcp", "--port", "443"]).status == 0)
        let (dir, enrolled) = try await enrollAgent(server, subscriberId: "\(org)-01", signature: "monitor-signature", converter: "mon-1")
        #expect(enrolled.status == 0, "\(enrolled.output)")

        // Five decisions before `run` starts: they wait in the spool.
        let checks: [(String, Int32)] = [("10.91.0.5", 0), ("10.92.0.1", 1), ("10.91.7.7", 0), ("10.93.0.1", 1), ("10.91.0.6", 0)]
        for (destination, expected) in checks {
            let check = try await agent(["check", "--dir", dir, "--destination", destination, "--protocol", "tcp", "--port", "443",
                                         "--source", "10.10.1.7"])
            #expect(check.status == expected, "\(destination): \(check.output)")
            #expect(!check.output.contains("not logged"), "\(check.output)")
        }

        let port = freePort()
        let monitor = try await issueMonitorCertificate(server)
        let probe = StatusProbe(server: server, host: "192.0.2.91", port: port, client: monitor)
        func start(_ log: String) throws -> BackgroundProcess {
            try BackgroundProcess.spawn(agentBinary, ["run", "--dir", dir, "--poll-wait", "1", "--reconcile-seconds", "1",
                                                      "--status-listen", "127.0.0.1:\(port)", "--traffic-interval", "1"],
                                        outputPath: dir + "/" + log)
        }
        func log(_ name: String) -> String { (try? String(contentsOfFile: dir + "/" + name, encoding: .utf8)) ?? "" }
        var process = try start("agent.log")
        do {
            let healthy = try await eventually(timeout: .seconds(20)) {
                try await probe.get("/v1/status").json?["health"] as? String == "ok"
            }
            let status = try await probe.get("/v1/status")
            #expect(healthy, "\(status.raw)\n\(log("agent.log"))")
            let json = try #require(status.json, "\(status.raw)")
            let settings = try AgentSettings.load(from: AgentDirectory(path: dir))
            #expect(json["converter"] as? String == "mon-1" && json["org"] as? String == org)
            #expect((json["certificate"] as? [String: Any])?["serial"] as? String == settings.serial)
            #expect(((json["certificate"] as? [String: Any])?["notAfter"] as? String)?.hasSuffix("Z") == true)
            #expect((json["tunnels"] as? [String: Any])?["configured"] as? Int == 0)
            #expect(number((json["resources"] as? [String: Any])?["memoryBytes"]) > 0)
            #expect((json["problems"] as? [String]) == [])
            #expect(json["version"] as? String == AgentVersion.string && json["uptimeSeconds"] is Int)

            // No client certificate: the handshake fails. A converter's own (valid) certificate: 403.
            let anonymous = try await probe.get("/v1/status", client: .some(nil))
            #expect(anonymous.code != 200 && !anonymous.body.contains("converter"), "\(anonymous.raw)")
            let converterAsClient = try await probe.get("/v1/status", client: (dir + "/agent.pem", dir + "/agent.key"))
            #expect(converterAsClient.code == 403 && converterAsClient.json?["error"] is String, "\(converterAsClient.raw)")
            let otherName = try await issueMonitorCertificate(server, commonName: "tollgate-monitor2")
            #expect(try await probe.get("/v1/status", client: otherName).code == 403)
            // The right subject from another CA: refused in the handshake.
            let foreign = temporaryDirectory("foreign")
            let selfSigned = try await run("/usr/bin/openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                                                "-days", "2", "-keyout", foreign + "/k.pem", "-out", foreign + "/c.pem",
                                                                "-subj", "/CN=tollgate-monitor/O=Tollgate"])
            try #require(selfSigned.status == 0, "\(selfSigned.output)")
            let impostor = try await probe.get("/v1/status", client: (foreign + "/c.pem", foreign + "/k.pem"))
            #expect(impostor.code != 200 && impostor.code != 403 && !impostor.body.contains("converter"), "\(impostor.raw)")

            // Wrong method, path, parameters.
            let post = try await probe.get("/v1/status", method: "POST")
            #expect(post.code == 405 && post.json?["error"] is String, "\(post.raw)")
            #expect(try await probe.get("/v1/nothing").code == 404)
            for bad in ["after=x", "after=-1", "limit=0", "limit=10001"] {
                let answer = try await probe.get("/v1/traffic?\(bad)")
                #expect(answer.code == 400 && answer.json?["error"] is String, "\(bad): \(answer.raw)")
            }

            // Pages of 2: seq 1…5 in order, the check decisions as access records.
            let first = try #require(try await probe.traffic(after: 0, limit: 2))
            #expect(first.records.map { number($0["seq"]) } == [1, 2] && first.last == 2 && first.more, "\(first)")
            let record = first.records[0]
            #expect(record["kind"] as? String == "access" && record["destination"] as? String == "10.91.0.5")
            #expect(record["allow"] as? Bool == true && record["protocol"] as? String == "tcp" && record["port"] as? Int == 443)
            #expect(record["source"] as? String == "10.10.1.7" && (record["time"] as? String)?.hasSuffix("Z") == true)
            #expect(first.records[1]["allow"] as? Bool == false && first.records[1]["reason"] is String)
            let second = try #require(try await probe.traffic(after: 2, limit: 2))
            #expect(second.records.map { number($0["seq"]) } == [3, 4] && second.more)
            let third = try #require(try await probe.traffic(after: 4, limit: 2))
            #expect(third.records.map { number($0["seq"]) } == [5] && !third.more && third.last == 5)
            let none = try #require(try await probe.traffic(after: 5))
            #expect(none.records.isEmpty && none.last == 5 && !none.more)
            let buffered = try await probe.get("/v1/status").json?["resources"] as? [String: Any]
            #expect(buffered?["bufferedRecords"] as? Int == 0, "acknowledged records are deleted")

            // A decision while run is running arrives as seq 6.
            let during = try await agent(["check", "--dir", dir, "--destination", "10.94.0.1", "--protocol", "udp", "--port", "53"])
            #expect(during.status == 1, "\(during.output)")
            let sixth = try #require(try await probe.traffic(after: 5))
            #expect(sixth.records.map { number($0["seq"]) } == [6] && sixth.records.first?["destination"] as? String == "10.94.0.1"
                    && sixth.records.first?["protocol"] as? String == "udp" && sixth.records.first?["source"] == nil, "\(sixth.records)")
            #expect(try await probe.traffic(after: 6)?.records.isEmpty == true)
        } catch {
            await process.stop()
            throw error
        }
        await process.stop()

        // A decision while run is stopped, then run again: seq continues at 7, 1…6 stay acknowledged.
        let late = try await agent(["check", "--dir", dir, "--destination", "10.91.0.9", "--protocol", "tcp", "--port", "443"])
        #expect(late.status == 0, "\(late.output)")
        process = try start("agent2.log")
        do {
            let arrived = try await eventually(timeout: .seconds(20)) { try await probe.traffic(after: 0)?.records.isEmpty == false }
            #expect(arrived, "\(log("agent2.log"))")
            let page = try #require(try await probe.traffic(after: 0))
            #expect(page.records.map { number($0["seq"]) } == [7], "\(page.records)")
            #expect(page.records.first?["destination"] as? String == "10.91.0.9")
        } catch {
            await process.stop()
            throw error
        }
        await process.stop()

        // The journal cannot be written: check warns and still answers with its usual status.
        try FileManager.default.removeItem(atPath: dir + "/journal")
        try Data("not a directory".utf8).write(to: URL(fileURLWithPath: dir + "/journal"))
        let unlogged = try await agent(["check", "--dir", dir, "--destination", "10.92.0.1", "--protocol", "tcp", "--port", "443"])
        #expect(unlogged.status == 1 && unlogged.output.contains("deny") && unlogged.output.contains("not logged"), "\(unlogged.output)")
    }

    @Test("health: with strongSwan unreachable the status is degraded: the configured tunnel is not up and strongSwan's error is named",
          .timeLimit(.minutes(2)))
    func degradedWithoutStrongSwan() async throws {
        let server = try await AgentTollgate.get()
        let org = try await makeTenant(server, converters: ["mon-d": "192.0.2.93"], signature: "degraded-signature")
        #expect(try await server.admin(["destination", "add", "--org", org, "--name", "lab", "--network", "10.93.0.0/16"]).status == 0)
        let (dir, enrolled) = try await enrollAgent(server, subscriberId: "\(org)-01", signature: "degraded-signature", converter: "mon-d")
        #expect(enrolled.status == 0, "\(enrolled.output)")
        let port = freePort()
        let probe = StatusProbe(server: server, host: "192.0.2.93", port: port, client: try await issueMonitorCertificate(server))
        let process = try BackgroundProcess.spawn(agentBinary, ["run", "--dir", dir, "--poll-wait", "1", "--reconcile-seconds", "1",
                                                                "--swanctl", StrongSwanPaths.swanctl, "--peer-address", "192.0.2.1",
                                                                "--vici-socket", dir + "/no-charon.vici", "--traffic-interval", "1",
                                                                "--status-listen", "127.0.0.1:\(port)"], outputPath: dir + "/agent.log")
        var status: [String: Any]?
        let degraded = try await eventually(timeout: .seconds(20)) {
            status = try await probe.get("/v1/status").json
            let problems = status?["problems"] as? [String] ?? []
            return problems.contains { $0.hasPrefix("strongSwan:") } && problems.contains { $0.contains("1 of 1 tunnels are not up") }
                && problems.contains { $0.hasPrefix("traffic sampling:") }
        }
        await process.stop()
        #expect(degraded, "\(String(describing: status))")
        #expect(status?["health"] as? String == "degraded")
        #expect((status?["tunnels"] as? [String: Any])?["configured"] as? Int == 1 && (status?["tunnels"] as? [String: Any])?["up"] as? Int == 0)
    }

    @Test("after run renews the certificate, new connections to the endpoint get the new one; an oversized request gets 413",
          .timeLimit(.minutes(2)))
    func endpointFollowsRenewal() async throws {
        let server = try await AgentTollgate.get()
        let org = try await makeTenant(server, converters: ["mon-r": "192.0.2.92"], signature: "renew-monitor-signature")
        let (dir, enrolled) = try await enrollAgent(server, subscriberId: "\(org)-01", signature: "renew-monitor-signature", converter: "mon-r")
        #expect(enrolled.status == 0, "\(enrolled.output)")
        let oldSerial = try AgentSettings.load(from: AgentDirectory(path: dir)).serial
        let port = freePort()
        let monitor = try await issueMonitorCertificate(server)
        let probe = StatusProbe(server: server, host: "192.0.2.92", port: port, client: monitor)
        func servedSerial() async throws -> String {
            let command = "/usr/bin/openssl s_client -connect 127.0.0.1:\(port) -cert \(shellQuote(monitor.certificate)) "
                + "-key \(shellQuote(monitor.key)) -CAfile \(shellQuote(server.rootCA)) </dev/null 2>/dev/null | /usr/bin/openssl x509 -noout -serial"
            let output = try await run("/bin/sh", ["-c", command]).output
            let hex = output.split(separator: "=").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines).lowercased() } ?? ""
            return String(hex.drop { $0 == "0" })
        }
        let process = try BackgroundProcess.spawn(agentBinary, ["run", "--dir", dir, "--renew-before-days", "400", "--poll-wait", "1",
                                                                "--status-listen", "127.0.0.1:\(port)"], outputPath: dir + "/agent.log")
        do {
            var newSerial = oldSerial
            let renewed = await eventually(timeout: .seconds(20)) {
                newSerial = (try? AgentSettings.load(from: AgentDirectory(path: dir)).serial) ?? oldSerial
                return newSerial != oldSerial
            }
            #expect(renewed, "\((try? String(contentsOfFile: dir + "/agent.log", encoding: .utf8)) ?? "")")
            var served = ""
            let follows = try await eventually(timeout: .seconds(10)) {
                served = try await servedSerial()
                return served == String(newSerial.lowercased().drop { $0 == "0" })
            }
            #expect(follows, "served \(served), renewed \(newSerial), old \(oldSerial)")
            let certificate = try await probe.get("/v1/status").json?["certificate"] as? [String: Any]
            #expect(certificate?["serial"] as? String == newSerial)
            // --renew-before-days beyond the lifetime: the certificate is always inside its renewal window.
            let status = try await probe.get("/v1/status").json
            #expect(status?["health"] as? String == "degraded", "\(String(describing: status))")
            #expect((status?["problems"] as? [String])?.contains { $0.contains("certificate \(newSerial) expires") } == true,
                    "\(String(describing: status))")

            let big = temporaryDirectory("big") + "/body"
            try Data(repeating: UInt8(ascii: "x"), count: 64 * 1024).write(to: URL(fileURLWithPath: big))
            let tooLarge = try await run("/usr/bin/curl", ["-s", "-m", "10", "-X", "GET", "--data-binary", "@" + big,
                                                           "--cacert", server.rootCA, "--cert", monitor.certificate, "--key", monitor.key,
                                                           "--connect-to", "192.0.2.92:\(port):127.0.0.1:\(port)", "-w", "\n%{http_code}",
                                                           "https://192.0.2.92:\(port)/v1/status"])
            #expect(tooLarge.output.hasSuffix("413") && tooLarge.output.contains("error"), "\(tooLarge.output)")
        } catch {
            await process.stop()
            throw error
        }
        await process.stop()
    }

    @Test("real tunnels: traffic records of a destination equal charon's own CHILD_SA counters and cover the payload sent; a restarted agent counts nothing twice",
          .timeLimit(.minutes(4)))
    func trafficMatchesCharonCounters() async throws {
        try StrongSwanPaths.requirePrerequisites()
        let server = try await AgentTollgate.get()
        try await withTwoGateways(subnet: 33) { bed in
            let orgA = try await makeTenant(server, converters: ["gw-a": bed.a.outerAddress], signature: "traffic-signature-a")
            let orgB = try await makeTenant(server, converters: ["gw-b": bed.b.outerAddress], signature: "traffic-signature-b")
            #expect(try await server.admin(["destination", "add", "--org", orgA, "--name", "to-b", "--network", bed.b.innerAddress + "/32"]).status == 0)
            #expect(try await server.admin(["destination", "add", "--org", orgB, "--name", "to-a", "--network", bed.a.innerAddress + "/32"]).status == 0)
            let (dirA, enrolledA) = try await enrollAgent(server, subscriberId: "\(orgA)-01", signature: "traffic-signature-a", converter: "gw-a")
            let (dirB, enrolledB) = try await enrollAgent(server, subscriberId: "\(orgB)-01", signature: "traffic-signature-b", converter: "gw-b")
            #expect(enrolledA.status == 0 && enrolledB.status == 0, "\(enrolledA.output) \(enrolledB.output)")
            let charonA = try await bed.startCharon(on: bed.a)
            let charonB = try await bed.startCharon(on: bed.b)
            let port = freePort()
            let probe = StatusProbe(server: server, host: bed.a.outerAddress, port: port, client: try await issueMonitorCertificate(server))
            func start(_ dir: String, charon: CharonInstance, peer: Gateway, local: Gateway, log: String, extra: [String]) throws -> BackgroundProcess {
                try BackgroundProcess.spawn(agentBinary, ["run", "--dir", dir, "--swanctl", StrongSwanPaths.swanctl,
                                                          "--vici-socket", charon.runDirectory + "/charon.vici",
                                                          "--peer-address", peer.outerAddress, "--local-address", local.outerAddress,
                                                          "--local-ts", local.innerAddress + "/32", "--poll-wait", "2",
                                                          "--reconcile-seconds", "1", "--log-level", "debug", "--traffic-interval", "2"] + extra,
                                            outputPath: dir + "/" + log)
            }
            let agentB = try start(dirB, charon: charonB, peer: bed.a, local: bed.b, log: "agent.log", extra: ["--no-initiate", "--status-listen", "off"])
            var agentA = try start(dirA, charon: charonA, peer: bed.b, local: bed.a, log: "agent.log",
                                   extra: ["--status-listen", "127.0.0.1:\(port)"])
            do {
                agentA = try await trafficScenario(bed: bed, charonA: charonA, dirA: dirA, probe: probe, agentA: agentA) {
                    try start(dirA, charon: charonA, peer: bed.b, local: bed.a, log: "agent2.log", extra: ["--status-listen", "127.0.0.1:\(port)"])
                }
            } catch {
                await agentA.stop()
                await agentB.stop()
                throw error
            }
            await agentA.stop()
            await agentB.stop()
        }
    }

    /// Sends `count` UDP datagrams of `size` bytes from A's inner address to B's (port 9, discard).
    func send(_ bed: GatewayTestBed, count: Int, size: Int) async throws {
        let script = """
        import socket, sys
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((sys.argv[1], 0))
        for _ in range(int(sys.argv[3])):
            s.sendto(b"x" * int(sys.argv[4]), (sys.argv[2], 9))
        print("sent", flush=True)
        """
        let sent = try await bed.a.namespace.exec([StrongSwanPaths.python3, "-c", script, bed.a.innerAddress, bed.b.innerAddress,
                                                   String(count), String(size)])
        #expect(sent.status == 0 && sent.output.contains("sent"), "\(sent.output)")
    }

    struct Counters: Equatable, CustomStringConvertible {
        var bytesIn: UInt64 = 0, bytesOut: UInt64 = 0, packetsIn: UInt64 = 0, packetsOut: UInt64 = 0
        var description: String { "in \(bytesIn) B/\(packetsIn) p, out \(bytesOut) B/\(packetsOut) p" }
    }

    func trafficScenario(bed: GatewayTestBed, charonA: CharonInstance, dirA: String, probe: StatusProbe, agentA: BackgroundProcess,
                         restart: () throws -> BackgroundProcess) async throws -> BackgroundProcess {
        func log(_ name: String) -> String { ((try? String(contentsOfFile: dirA + "/" + name, encoding: .utf8)) ?? "").suffix(4000).description }
        let destination = bed.b.innerAddress + "/32"
        #expect(await eventually(timeout: .seconds(30)) { tunnelsUp(dirA).count == 1 }, "\(log("agent.log"))\n\(bed.diagnostics())")
        let child = try #require(tunnelsUp(dirA).first)
        var status: [String: Any]?
        let healthy = try await eventually(timeout: .seconds(15)) {
            status = try await probe.get("/v1/status").json
            return status?["health"] as? String == "ok"
        }
        #expect(healthy, "\(String(describing: status))")
        #expect((status?["tunnels"] as? [String: Any])?["up"] as? Int == 1 && (status?["tunnels"] as? [String: Any])?["configured"] as? Int == 1,
                "\(String(describing: status))")

        // charon's counters of every CHILD_SA of the child seen so far (by unique id), so a
        // CHILD_SA replaced meanwhile still counts with its last reading.
        var seen: [String: Counters] = [:]
        func charonTotal() async throws -> Counters {
            for sa in try await charonA.listSAs() where sa.name == "tollgate" {
                for c in sa.children where c.name == child {
                    seen[c.uniqueID] = Counters(bytesIn: c.bytesIn, bytesOut: c.bytesOut, packetsIn: c.packetsIn, packetsOut: c.packetsOut)
                }
            }
            return seen.values.reduce(into: Counters()) {
                $0.bytesIn += $1.bytesIn; $0.bytesOut += $1.bytesOut; $0.packetsIn += $1.packetsIn; $0.packetsOut += $1.packetsOut
            }
        }
        func journalTotal() async throws -> (Counters, [UInt64])? {
            guard let page = try await probe.traffic(after: 0) else { return nil }
            var total = Counters()
            var seqs: [UInt64] = []
            for record in page.records where record["kind"] as? String == "traffic" && record["destination"] as? String == destination {
                #expect(record["child"] as? String == child)
                #expect((record["start"] as? String ?? "") <= (record["end"] as? String ?? ""))
                total.bytesIn += number(record["bytesIn"]); total.bytesOut += number(record["bytesOut"])
                total.packetsIn += number(record["packetsIn"]); total.packetsOut += number(record["packetsOut"])
                seqs.append(number(record["seq"]))
            }
            return (total, seqs)
        }

        try await send(bed, count: 20, size: 1000)
        var expected = Counters(), got = Counters()
        let matched = try await eventually(timeout: .seconds(30)) {
            expected = try await charonTotal()
            got = try await journalTotal()?.0 ?? Counters()
            return expected == got && expected.bytesOut > 0
        }
        #expect(matched, "journal \(got) vs charon \(expected)\n\(log("agent.log"))")
        #expect(got.bytesOut >= 20 * 1000 && got.packetsOut >= 20, "at least the payload sent: \(got)")
        let before = try await journalTotal()
        let maxSeq = before?.1.max() ?? 0

        // Restart A's agent: the first rounds of the new process find the readings in the
        // journal and add nothing for traffic already counted.
        await agentA.stop()
        let restarted = try restart()
        do {
            let rounds = await eventually(timeout: .seconds(30)) {
                log("agent2.log").components(separatedBy: "traffic round").count > 3
            }
            #expect(rounds, "\(log("agent2.log"))")
            let afterRestart = try await journalTotal()
            let charonNow = try await charonTotal()
            #expect(afterRestart?.0 == charonNow, "nothing counted twice: journal \(String(describing: afterRestart?.0)) vs charon \(charonNow)")

            // New traffic after the restart: counted once, in records with higher seq.
            try await send(bed, count: 10, size: 500)
            let matchedAgain = try await eventually(timeout: .seconds(30)) {
                expected = try await charonTotal()
                got = try await journalTotal()?.0 ?? Counters()
                return expected == got && expected.bytesOut >= charonNow.bytesOut + 10 * 500
            }
            #expect(matchedAgain, "journal \(got) vs charon \(expected)\n\(log("agent2.log"))")
            let newSeqs = try await journalTotal()?.1.filter { $0 > maxSeq } ?? []
            #expect(!newSeqs.isEmpty, "the restarted agent continues the seq")

            // Rekey: the new CHILD_SA (new unique id) counts from zero; the old one's total stays counted once.
            let idsBefore = Set(seen.keys)
            let rekeyed = try await charonA.swanctl(["--rekey", "--child", child])
            #expect(rekeyed.status == 0, "\(rekeyed.output)")
            let newSA = try await eventually(timeout: .seconds(15)) {
                _ = try await charonTotal()
                return !Set(seen.keys).subtracting(idsBefore).isEmpty
            }
            #expect(newSA, "\(charonA.logTail())")
            let afterRekey = try await charonTotal()
            try await send(bed, count: 7, size: 700)
            let matchedRekey = try await eventually(timeout: .seconds(30)) {
                expected = try await charonTotal()
                got = try await journalTotal()?.0 ?? Counters()
                return expected == got && expected.bytesOut >= afterRekey.bytesOut + 7 * 700
            }
            #expect(matchedRekey, "journal \(got) vs charon \(expected) (CHILD_SAs \(seen))\n\(log("agent2.log"))")
        } catch {
            await restarted.stop()
            throw error
        }
        return restarted
    }
}
