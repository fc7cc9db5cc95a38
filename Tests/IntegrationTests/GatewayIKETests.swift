import Directory
import Foundation
import LDAPClient
import ManagedSlapd
import TestSupport
import Testing

/// Converters enrolled by Tollgate over EST run IKEv2 between two real charons; after a
/// revocation, charon fetches the CRL over ldap:// from Tollgate's slapd and refuses the peer.
@Suite("IPsec gateways with Tollgate certificates", .serialized)
struct GatewayIKETests {
    /// A veth pair from the root namespace into `namespace`: root side `rootAddress`, the
    /// other side `nsAddress`, both /30. The root side is where slapd listens for CRL fetches.
    func linkToRoot(_ namespace: NetworkNamespace, rootAddress: String, nsAddress: String, tag: String) async throws {
        let rootSide = "tgr\(tag)", nsSide = "tgn\(tag)"
        _ = try await runChecked("/usr/sbin/ip", ["link", "add", rootSide, "type", "veth", "peer", "name", nsSide, "netns", namespace.name])
        _ = try await runChecked("/usr/sbin/ip", ["addr", "add", rootAddress + "/30", "dev", rootSide])
        _ = try await runChecked("/usr/sbin/ip", ["link", "set", rootSide, "up"])
        _ = try await namespace.ip(["addr", "add", nsAddress + "/30", "dev", nsSide])
        _ = try await namespace.ip(["link", "set", nsSide, "up"])
    }

    @Test("two converters enrolled over EST establish IKEv2 + CHILD_SA and pass traffic; a revoked peer is refused via the LDAP CRL",
          .timeLimit(.minutes(4)))
    func tunnelAndRevocation() async throws {
        try StrongSwanPaths.requirePrerequisites()
        try await withTwoGateways(subnet: 21) { bed in
            // Root <-> gateway links; slapd also listens on the first root address.
            let crlHost = "10.98.21.1"
            try await linkToRoot(bed.a.namespace, rootAddress: crlHost, nsAddress: "10.98.21.2", tag: "a21")
            try await linkToRoot(bed.b.namespace, rootAddress: "10.98.21.5", nsAddress: "10.98.21.6", tag: "b21")
            _ = try await bed.b.namespace.ip(["route", "add", crlHost + "/32", "dev", "tgnb21"])
            defer { Task { _ = try? await run("/usr/sbin/ip", ["link", "del", "tgra21"]); _ = try? await run("/usr/sbin/ip", ["link", "del", "tgrb21"]) } }

            // A dedicated server: its slapd must listen on an address this test created.
            let server = try await SharedTollgate.start(["--ldap-listen", "ldap://\(crlHost):LDAPPORT/",
                                                         "--crl-ldap-url", "ldap://\(crlHost):LDAPPORT"])
            defer { server.stop() }
            let org = uniqueOrgNumber()
            #expect(try await server.admin(["subscriber", "add", "--org", org, "--id", "\(org)-01", "--name", "IPsec Org",
                                            "--mail", "i@test.example", "--signature", "ipsec-signature-01"]).status == 0)
            for (name, gateway) in [("gw-a", bed.a), ("gw-b", bed.b)] {
                #expect(try await server.admin(["converter", "add", "--org", org, "--name", name, "--address", gateway.outerAddress]).status == 0)
            }
            // Enrol both over EST with strongSwan's pki.
            let dir = temporaryDirectory("ike")
            var certificates: [String: (cert: String, key: String)] = [:]
            for name in ["gw-a", "gw-b"] {
                let key = "\(dir)/\(name).key", csr = "\(dir)/\(name).csr", cert = "\(dir)/\(name).pem"
                _ = try await runChecked("/bin/sh", ["-c", "pki --gen --type ecdsa --size 256 --outform pem > \(key) 2>/dev/null"])
                _ = try await runChecked("/bin/sh", ["-c", "pki --req --in \(key) --type ecdsa --dn CN=\(name) > \(csr) 2>/dev/null"])
                _ = try await runChecked("/bin/sh", ["-c", "pki --est --url \(server.url) --in \(csr) --cacert \(server.rootCA) "
                    + "--cacert \(server.issuingCA) --userpass \(org)-01:ipsec-signature-01 --outform pem > \(cert) 2>/dev/null"])
                certificates[name] = (cert, key)
            }
            let cas = [server.rootCA, server.issuingCA]
            let a = try #require(certificates["gw-a"]), b = try #require(certificates["gw-b"])
            let charonA = try await bed.startCharon(on: bed.a)
            let charonB = try await bed.startCharon(on: bed.b)
            try await charonA.load(SwanctlConfig(connections: [
                bed.netToNet(from: bed.a, to: bed.b, certificate: a.cert, privateKey: a.key, caCertificates: cas, revocation: .ifuri)]))
            try await charonB.load(SwanctlConfig(connections: [
                bed.netToNet(from: bed.b, to: bed.a, certificate: b.cert, privateKey: b.key, caCertificates: cas, revocation: .ifuri)]))

            // revocation=ifuri: a certificate with a CRL URI needs a good CRL, fetched over ldap:// first.
            try await charonA.initiate(child: "tg")
            let payload = "tollgate-ike-\(UInt32.random(in: 0...UInt32.max))"
            let echo = try await bed.udpEcho(from: bed.a, to: bed.b, payload: payload)
            #expect(echo.succeeded, "echo: \(echo.clientOutput) \(echo.serverOutput)\n\(bed.diagnostics())")
            let child = try await charonA.childSAs(named: "tg")
            #expect(child.first.map { $0.bytesOut > 0 && $0.bytesIn > 0 } == true, "\(child)")
            #expect(charonA.logTail(400).contains("fetching crl from 'ldap://\(crlHost)"), "\(charonA.logTail(80))")

            // Revoke gw-b; gw-a's charon must fetch the new CRL and refuse it.
            let serial = try await DirectoryStore(client: server.slapd.client()).converter(orgNumber: org, name: "gw-b")?.certificateSerials.last
            let revoke = try await server.admin(["certificate", "revoke", "--serial", try #require(serial), "--reason", "keyCompromise"])
            #expect(revoke.status == 0, "\(revoke.output)")
            try await charonA.terminate(ike: "tg")
            _ = try await charonA.swanctl(["--flush-certs", "--type", "x509crl"])
            let attempt = try await charonA.tryInitiate(child: "tg", timeout: 10)
            #expect(attempt.status != 0, "initiate with a revoked peer must fail: \(attempt.output)")
            #expect(try await charonA.childSAs(named: "tg").isEmpty)
            let log = charonA.logTail(300)
            #expect(log.contains("certificate was revoked"), "charon A log:\n\(log)")
            let after = try await bed.udpEcho(from: bed.a, to: bed.b, payload: "after-revocation", timeout: 1)
            #expect(!after.succeeded, "traffic must not pass after revocation")
        }
    }
}
