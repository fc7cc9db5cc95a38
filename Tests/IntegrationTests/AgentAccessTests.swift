import ProcessSpawning
import Agent
import Foundation
import ManagedSlapd
import TestSupport
import Testing

/// `tollgate-agent check` and `run` against the server's access API (`/v1/access/check`,
/// `/v1/policy`).
@Suite("tollgate-agent check and run with the access API", .serialized)
struct AgentAccessTests {
    @Test("check: exit 0 allow / 1 deny with reason and rule, --json, 4 for a bad request, 3 for a superseded certificate, 2 unreachable")
    func checkExitCodes() async throws {
        let server = try await AgentTollgate.get()
        let (dir, enrolled) = try await enrollAgent(server, subscriberId: "1001-01", signature: "demo-signature-1001", converter: "conv-b")
        #expect(enrolled.status == 0, "\(enrolled.output)")
        func check(_ arguments: [String], dir: String = dir) async throws -> ProcessOutput {
            try await agent(["check", "--dir", dir] + arguments)
        }
        let allow = try await check(["--destination", "10.20.3.4", "--protocol", "tcp", "--port", "443", "--source", "10.10.1.7"])
        #expect(allow.status == 0, "\(allow.output)")
        #expect(allow.output.contains("allow: "), "\(allow.output)")
        #expect(allow.output.contains("rule: cn=intranet-https,ou=destinations,tgOrgNumber=1001"), "\(allow.output)")
        let wrongPort = try await check(["--destination", "10.20.3.4", "--protocol", "tcp", "--port", "22"])
        #expect(wrongPort.status == 1 && wrongPort.output.contains("deny: "), "\(wrongPort.output)")
        let expired = try await check(["--destination", "10.50.0.9", "--protocol", "tcp", "--port", "22"])
        #expect(expired.status == 1, "expired destination: \(expired.output)")
        let otherTenant = try await check(["--destination", "10.40.0.1", "--protocol", "tcp", "--port", "22"])
        #expect(otherTenant.status == 1 && otherTenant.output.contains("rule: (none)"), "tenant 1002's destination: \(otherTenant.output)")
        let v6 = try await check(["--destination", "2001:db8:1::7", "--protocol", "udp", "--port", "8050"])
        #expect(v6.status == 0, "\(v6.output)")
        let json = try await check(["--destination", "10.30.1.5", "--json"])
        #expect(json.status == 0, "\(json.output)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any], "\(json.output)")
        #expect(object["allow"] as? Bool == true && object["converter"] as? String == "conv-b" && object["org"] as? String == "1001")
        // tcp without a port is a bad request (400): exit 4 with the server's message.
        let bad = try await check(["--destination", "10.20.3.4", "--protocol", "tcp"])
        #expect(bad.status == 4 && bad.output.contains("HTTP 400"), "\(bad.output)")
        let usage = try await check(["--destination", "10.20.3.4", "--port", "70000"])
        #expect(usage.status == 64)

        // After a renewal the old certificate is no longer the converter's: refused (3).
        let old = temporaryDirectory("oldcert") + "/state"
        _ = try await run("/bin/cp", ["-a", dir, old])
        #expect(try await agent(["renew", "--dir", dir]).status == 0)
        let superseded = try await check(["--destination", "10.20.3.4", "--protocol", "tcp", "--port", "443"], dir: old)
        #expect(superseded.status == 3 && superseded.output.contains("HTTP 401"), "\(superseded.output)")
        #expect(try await check(["--destination", "10.20.3.4", "--protocol", "tcp", "--port", "443"]).status == 0)

        // Nothing listening: exit 2.
        let settingsFile = old + "/agent.json"
        let text = try String(contentsOfFile: settingsFile, encoding: .utf8)
            .replacingOccurrences(of: server.url, with: "https://127.0.0.1:\(freePort())")
        try text.write(toFile: settingsFile, atomically: true, encoding: .utf8)
        let unreachable = try await check(["--destination", "10.20.3.4", "--protocol", "tcp", "--port", "443"], dir: old)
        #expect(unreachable.status == 2 && unreachable.output.contains("cannot reach the server: cannot connect to 127.0.0.1:"),
                "\(unreachable.output)")
        #expect(unreachable.output.contains("Connection refused"), "\(unreachable.output)")
    }

    @Test("run: policy cached in policy.json (0600) and state current; after the certificate is revoked the server refuses it (401) and the agent goes to mode refused (no tunnels)")
    func revokedWhileRunning() async throws {
        let server = try await AgentTollgate.get()
        let org = try await makeTenant(server, converters: ["rv-1": "192.0.2.81"], signature: "revoke-signature")
        #expect(try await server.admin(["destination", "add", "--org", org, "--name", "web", "--network", "10.81.0.0/16",
                                         "--protocol", "tcp", "--port", "443"]).status == 0)
        let (dir, enrolled) = try await enrollAgent(server, subscriberId: "\(org)-01", signature: "revoke-signature", converter: "rv-1")
        #expect(enrolled.status == 0, "\(enrolled.output)")
        let process = try BackgroundProcess.spawn(agentBinary, ["run", "--dir", dir, "--poll-wait", "1", "--reconcile-seconds", "1"],
                                                  outputPath: dir + "/agent.log")
        func log() -> String { (try? String(contentsOfFile: dir + "/agent.log", encoding: .utf8)) ?? "" }
        let current = await eventually(timeout: .seconds(15)) { agentState(dir)?["mode"] as? String == "current" }
        #expect(current, "\(log())")
        #expect(fileMode(dir + "/policy.json") == 0o600)
        let cached = try String(contentsOfFile: dir + "/policy.json", encoding: .utf8)
        #expect(cached.contains("10.81.0.0/16") && cached.contains("\"etag\""), "\(cached)")
        let revoked = try await server.admin(["certificate", "revoke", "--org", org, "--converter", "rv-1", "--reason", "keyCompromise"])
        #expect(revoked.status == 0, "\(revoked.output)")
        let refused = await eventually(timeout: .seconds(15)) { agentState(dir)?["mode"] as? String == "refused" }
        await process.stop()
        #expect(refused, "\(log())")
        #expect((agentState(dir)?["lastError"] as? String)?.contains("HTTP 401") == true, "\(String(describing: agentState(dir)))")
        let check = try await agent(["check", "--dir", dir, "--destination", "10.81.0.1", "--protocol", "tcp", "--port", "443"])
        #expect(check.status == 3 && check.output.contains("revoked"), "a revoked certificate gets no decision: \(check.output)")
    }

    @Test("two agents, two charons: a destination added in LDAP gets a tunnel, ldapdelete removes it; server gone: fail-static, then closed",
          .timeLimit(.minutes(4)))
    func endToEnd() async throws {
        try StrongSwanPaths.requirePrerequisites()
        // A server of its own: the test stops it.
        let server = try await SharedTollgate.start([])
        defer { server.stop() }
        try await withTwoGateways(subnet: 32) { bed in
            let orgA = try await makeTenant(server, converters: ["gw-a": bed.a.outerAddress], signature: "e2e-signature-a")
            let orgB = try await makeTenant(server, converters: ["gw-b": bed.b.outerAddress], signature: "e2e-signature-b")
            // B's tenant lets B answer for A's inner address; A's tenant has nothing yet.
            #expect(try await server.admin(["destination", "add", "--org", orgB, "--name", "to-a", "--network", bed.a.innerAddress + "/32"]).status == 0)
            let (dirA, enrolledA) = try await enrollAgent(server, subscriberId: "\(orgA)-01", signature: "e2e-signature-a", converter: "gw-a")
            let (dirB, enrolledB) = try await enrollAgent(server, subscriberId: "\(orgB)-01", signature: "e2e-signature-b", converter: "gw-b")
            #expect(enrolledA.status == 0 && enrolledB.status == 0, "\(enrolledA.output) \(enrolledB.output)")
            let charonA = try await bed.startCharon(on: bed.a)
            let charonB = try await bed.startCharon(on: bed.b)
            func start(_ dir: String, charon: CharonInstance, peer: Gateway, local: Gateway, extra: [String]) throws -> BackgroundProcess {
                try BackgroundProcess.spawn(agentBinary, ["run", "--dir", dir, "--swanctl", StrongSwanPaths.swanctl,
                                                          "--vici-socket", charon.runDirectory + "/charon.vici",
                                                          "--peer-address", peer.outerAddress, "--local-address", local.outerAddress,
                                                          "--local-ts", local.innerAddress + "/32", "--poll-wait", "2",
                                                          "--reconcile-seconds", "1", "--stale-seconds", "12", "--log-level", "debug"] + extra,
                                            outputPath: dir + "/agent.log")
            }
            let agentB = try start(dirB, charon: charonB, peer: bed.a, local: bed.b, extra: ["--no-initiate"])
            let agentA = try start(dirA, charon: charonA, peer: bed.b, local: bed.a, extra: [])
            do {
                try await scenario(server: server, bed: bed, charonA: charonA, orgA: orgA, dirA: dirA)
            } catch {
                await agentA.stop()
                await agentB.stop()
                throw error
            }
            await agentA.stop()
            await agentB.stop()
        }
    }

    func scenario(server: TollgateProcess, bed: GatewayTestBed, charonA: CharonInstance, orgA: String, dirA: String) async throws {
        func log(_ dir: String) -> String { ((try? String(contentsOfFile: dir + "/agent.log", encoding: .utf8)) ?? "").suffix(3000).description }
        #expect(await eventually(timeout: .seconds(20)) { agentState(dirA)?["mode"] as? String == "current" }, "\(log(dirA))")
        #expect(tunnelsUp(dirA).isEmpty, "nothing allowed yet")

        // Added in LDAP → tunnel up and traffic flows.
        #expect(try await server.admin(["destination", "add", "--org", orgA, "--name", "to-b", "--network", bed.b.innerAddress + "/32"]).status == 0)
        #expect(await eventually(timeout: .seconds(30)) { tunnelsUp(dirA).count == 1 }, "\(log(dirA))\n\(bed.diagnostics())")
        let echo = try await bed.udpEcho(from: bed.a, to: bed.b, payload: "e2e-\(UInt32.random(in: 0...UInt32.max))")
        #expect(echo.succeeded, "\(echo.clientOutput)\n\(log(dirA))\n\(bed.diagnostics())")

        // Removed with ldapdelete → the CHILD_SA goes, traffic stops.
        let deleted = try await ldapTool(server, "ldapdelete",
                                         arguments: ["cn=to-b,ou=destinations,tgOrgNumber=\(orgA),ou=subscribers,dc=tollgate"])
        #expect(deleted.status == 0, "\(deleted.output)")
        let removed = try await eventually(timeout: .seconds(20)) {
            let children = try await charonA.listSAs().flatMap(\.children)
            return tunnelsUp(dirA).isEmpty && children.isEmpty
        }
        #expect(removed, "\(log(dirA))")
        let stopped = try await bed.udpEcho(from: bed.a, to: bed.b, payload: "after-delete", timeout: 1)
        #expect(!stopped.succeeded)

        // Back in (ldapadd of the same entry as an operator would) → tunnel again.
        let entry = """
        dn: cn=to-b,ou=destinations,tgOrgNumber=\(orgA),ou=subscribers,dc=tollgate
        objectClass: tgDestination
        cn: to-b
        tgOrgNumber: \(orgA)
        tgNetwork: \(bed.b.innerAddress)/32
        tgAddressFrom: \(mappedHex(bed.b.innerAddress))
        tgAddressTo: \(mappedHex(bed.b.innerAddress))
        tgPrefixLength: 32
        tgProtocol: any

        """
        let added = try await ldapTool(server, "ldapadd", ldif: entry)
        #expect(added.status == 0, "\(added.output)")
        #expect(await eventually(timeout: .seconds(30)) { tunnelsUp(dirA).count == 1 }, "\(log(dirA))")
        #expect(try await bed.udpEcho(from: bed.a, to: bed.b, payload: "re-added").succeeded)

        // The server goes away: the last policy stays in force (static) for --stale-seconds, then no tunnels (closed).
        server.stop()
        #expect(await eventually(timeout: .seconds(10)) { agentState(dirA)?["mode"] as? String == "static" }, "\(log(dirA))")
        #expect(tunnelsUp(dirA).count == 1)
        #expect(try await bed.udpEcho(from: bed.a, to: bed.b, payload: "static").succeeded, "fail-static keeps the tunnel")
        #expect(await eventually(timeout: .seconds(25)) { agentState(dirA)?["mode"] as? String == "closed" }, "\(log(dirA))")
        let torn = try await eventually(timeout: .seconds(10)) { try await charonA.listSAs().isEmpty }
        #expect(torn, "fail closed removes the tunnel")
        let closed = try await bed.udpEcho(from: bed.a, to: bed.b, payload: "closed", timeout: 1)
        #expect(!closed.succeeded)
    }
}

/// An IPv4 address as Tollgate's tgAddressFrom/To: 32 hex digits, mapped into ::ffff:0:0/96.
func mappedHex(_ ipv4: String) -> String {
    "00000000000000000000ffff" + ipv4.split(separator: ".").map { String(format: "%02x", Int($0) ?? 0) }.joined()
}
