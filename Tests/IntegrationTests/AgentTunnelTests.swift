import Agent
import Foundation
import ManagedSlapd
import Testing

/// The agent's strongSwan driver against real charons in network namespaces: a policy given
/// directly becomes swanctl configuration and CHILD_SAs.
@Suite("tollgate-agent strongSwan driver", .serialized)
struct AgentTunnelTests {
    func destination(_ name: String, _ network: String, _ proto: String = "any", ports: [String] = [],
                     action: String = "allow") -> PolicyDestination {
        PolicyDestination(dn: "cn=\(name),ou=destinations,tgOrgNumber=1,ou=subscribers,dc=tollgate", name: name, network: network,
                          protocol: proto, ports: ports, action: action)
    }

    func plan(_ destinations: [PolicyDestination]) -> TunnelPlan {
        TunnelPlan(policy: AccessPolicy(org: "1", converter: "x", version: "t", destinations: destinations), at: Date())
    }

    @Test("allowed destination → child with its port in the TS, traffic flows; changed → old child gone, refused by the peer; a denied carve-out leaves the tunnel; removed → no SA; other connections stay loaded",
          .timeLimit(.minutes(3)))
    func driverAgainstCharon() async throws {
        try StrongSwanPaths.requirePrerequisites()
        let server = try await AgentTollgate.get()
        try await withTwoGateways(subnet: 31) { bed in
            let org = try await makeTenant(server, converters: ["gw-a": bed.a.outerAddress, "gw-b": bed.b.outerAddress],
                                           signature: "driver-signature")
            let (dirA, enrolledA) = try await enrollAgent(server, subscriberId: "\(org)-01", signature: "driver-signature", converter: "gw-a")
            let (dirB, enrolledB) = try await enrollAgent(server, subscriberId: "\(org)-01", signature: "driver-signature", converter: "gw-b")
            #expect(enrolledA.status == 0 && enrolledB.status == 0, "\(enrolledA.output) \(enrolledB.output)")
            let charonA = try await bed.startCharon(on: bed.a)
            let charonB = try await bed.startCharon(on: bed.b)
            let identityA = try AgentIdentity.load(AgentDirectory(path: dirA))
            let identityB = try AgentIdentity.load(AgentDirectory(path: dirB))
            let driverA = TunnelDriver(settings: StrongSwanSettings(
                swanctl: StrongSwanPaths.swanctl, viciSocket: charonA.runDirectory + "/charon.vici", swanctlDirectory: dirA + "/swanctl",
                peerAddress: bed.b.outerAddress, localAddress: bed.a.outerAddress, localTS: [bed.a.innerAddress + "/32"]))
            let driverB = TunnelDriver(settings: StrongSwanSettings(
                swanctl: StrongSwanPaths.swanctl, viciSocket: charonB.runDirectory + "/charon.vici", swanctlDirectory: dirB + "/swanctl",
                peerAddress: bed.a.outerAddress, localAddress: bed.b.outerAddress, localTS: [bed.b.innerAddress + "/32"], initiate: false))

            // An operator's own connection in A's charon: the agent must never unload it.
            let operatorFile = dirA + "/operator-swanctl.conf"
            try """
            connections {
              operator-site {
                remote_addrs = 192.0.2.1
                local { auth = psk }
                remote { auth = psk }
                children { lan { remote_ts = 192.0.2.0/24 } }
              }
            }
            """.write(toFile: operatorFile, atomically: true, encoding: .utf8)
            try await charonA.swanctlChecked(["--load-conns", "--file", operatorFile])

            // B only responds: it allows A's inner address.
            let responder = try await driverB.apply(plan([destination("to-a", bed.a.innerAddress + "/32")]), identity: identityB, comment: "test B")
            #expect(responder.planned.count == 1 && responder.up.isEmpty && responder.failed.isEmpty, "\(responder)")

            // A may reach B's inner address on udp/7777 only.
            let allowed = plan([destination("to-b", bed.b.innerAddress + "/32", "udp", ports: ["7777"])])
            let child = try #require(allowed.children.first?.name)
            let up = try await driverA.apply(allowed, identity: identityA, comment: "test A")
            #expect(up.up == [child], "\(up)\n\(bed.diagnostics())")
            let config = try String(contentsOfFile: dirA + "/swanctl/conf.d/tollgate.conf", encoding: .utf8)
            #expect(config.contains("remote_ts = \(bed.b.innerAddress)/32[udp/7777]"), "\(config)")
            #expect(config.contains("id = \(bed.a.outerAddress)"), "local identity: the certificate's IP address")
            #expect(fileMode(dirA + "/swanctl/private/tollgate-agent.key") == 0o600)
            let sas = try await charonA.childSAs(named: child)
            #expect(sas.count == 1 && sas.first?.remoteTS.first?.contains("udp/7777") == true, "\(sas)")
            let echo = try await bed.udpEcho(from: bed.a, to: bed.b, payload: "agent-driver-\(UInt32.random(in: 0...UInt32.max))")
            #expect(echo.succeeded, "\(echo.clientOutput) \(echo.serverOutput)\n\(bed.diagnostics())")
            let otherPort = try await bed.udpEcho(from: bed.a, to: bed.b, payload: "other-port", port: 7778, timeout: 1)
            #expect(!otherPort.succeeded, "only udp/7777 is in the traffic selector")

            // A second apply with the same plan changes nothing (no reload, the SA stays).
            let again = try await driverA.apply(allowed, identity: identityA, comment: "test A")
            #expect(again.up == [child] && again.terminated.isEmpty)
            #expect(try await charonA.childSAs(named: child).first?.uniqueID == sas.first?.uniqueID)

            // The destination moves to a network B does not allow: the old child is torn
            // down, the new one is refused by the peer (TS_UNACCEPTABLE).
            let moved = plan([destination("to-b", "10.97.31.0/24")])
            let refused = try await driverA.apply(moved, identity: identityA, comment: "test A moved")
            #expect(refused.terminated == [child], "\(refused)")
            #expect(refused.up.isEmpty && refused.failed.count == 1, "\(refused)")
            #expect(try await charonA.childSAs(named: child).isEmpty)
            let blocked = try await bed.udpEcho(from: bed.a, to: bed.b, payload: "after-move", timeout: 1)
            #expect(!blocked.succeeded)

            // A deny carved out of an allowed network is enforced by the tunnel: B's /24 is
            // allowed (traffic flows), then B's own address is denied inside it — the wider
            // child is replaced by one whose selectors leave B out, which B cannot accept.
            let parts = bed.b.innerAddress.split(separator: ".")
            try #require(parts.count == 4, "an IPv4 inner address: \(bed.b.innerAddress)")
            let network = parts.prefix(3).joined(separator: ".") + ".0/24"
            let wide = plan([destination("to-b-net", network, "udp", ports: ["7777"])])
            let wideUp = try await driverA.apply(wide, identity: identityA, comment: "test A wide")
            #expect(wideUp.up.count == 1, "\(wideUp)\n\(bed.diagnostics())")
            let through = try await bed.udpEcho(from: bed.a, to: bed.b, payload: "wide-\(UInt32.random(in: 0...UInt32.max))")
            #expect(through.succeeded, "\(through.clientOutput) \(through.serverOutput)")
            let carved = plan([destination("to-b-net", network, "udp", ports: ["7777"]),
                               destination("not-b", bed.b.innerAddress + "/32", action: "deny")])
            #expect(carved.children.first?.remoteTS.contains { $0.hasPrefix(bed.b.innerAddress + "/32") } == false)
            let narrowed = try await driverA.apply(carved, identity: identityA, comment: "test A carved")
            #expect(narrowed.terminated == wideUp.up, "\(narrowed)")
            #expect(narrowed.up.isEmpty && narrowed.failed.count == 1, "\(narrowed)")
            let denied = try await bed.udpEcho(from: bed.a, to: bed.b, payload: "carved-out", timeout: 1)
            #expect(!denied.succeeded, "the denied address is not reachable through the tunnel")

            // Back again, then nothing allowed: no CHILD_SA, no IKE_SA, no connection.
            #expect(try await driverA.apply(allowed, identity: identityA, comment: "test A").up == [child])
            let closed = try await driverA.apply(.none, identity: identityA, comment: "closed")
            #expect(closed.terminated == [child] && closed.planned.isEmpty, "\(closed)")
            #expect(try await driverA.listSAs().isEmpty)
            let conns = try await charonA.swanctl(["--list-conns", "--raw"])
            #expect(!conns.output.contains("tollgate {"), "\(conns.output)")
            #expect(conns.output.contains("operator-site"), "the operator's connection survived every reload: \(conns.output)")
            let after = try await bed.udpEcho(from: bed.a, to: bed.b, payload: "after-close", timeout: 1)
            #expect(!after.succeeded)
        }
    }
}
