import Foundation
import TestSupport
import Testing

/// Proves the strongSwan harness: two real charons in two network namespaces, IKEv2 with
/// certificates from strongSwan's `pki`, a CHILD_SA over kernel-libipsec, UDP through it.
/// Needs root (namespaces, TUN, mount): it fails with a clear message otherwise.
@Suite(.serialized)
struct StrongSwanHarnessTests {
    @Test func rawSAListIsParsed() {
        let output = """
        list-sa event {tg {uniqueid=1 version=2 state=ESTABLISHED local-host=10.99.0.1 local-port=4500 local-id=10.99.0.1 remote-host=10.99.0.2 remote-port=4500 remote-id=10.99.0.2 initiator=yes child-sas {tg-1 {name=tg uniqueid=1 reqid=1 state=INSTALLED mode=TUNNEL protocol=ESP encap=yes bytes-in=42 packets-in=1 use-in=0 bytes-out=84 packets-out=2 rekey-time=3265 local-ts=[10.99.100.1/32] remote-ts=[10.99.100.2/32 10.99.101.0/24]}}}}
        list-sas reply {}
        """
        let sas = VICIRaw.listSAs(output)
        #expect(sas.count == 1)
        #expect(sas.first?.state == "ESTABLISHED")
        #expect(sas.first?.remoteID == "10.99.0.2")
        let child = sas.first?.children.first
        #expect(child?.name == "tg")
        #expect(child?.state == "INSTALLED")
        #expect(child?.bytesIn == 42)
        #expect(child?.packetsIn == 1)
        #expect(child?.bytesOut == 84)
        #expect(child?.packetsOut == 2)
        #expect(child?.localTS == ["10.99.100.1/32"])
        #expect(child?.remoteTS == ["10.99.100.2/32", "10.99.101.0/24"])
    }

    @Test(.timeLimit(.minutes(3)))
    func netToNetTunnelCarriesUDP() async throws {
        let clock = ContinuousClock()
        let begin = clock.now
        var timings: [(String, Duration)] = []
        func lap(_ label: String, since: inout ContinuousClock.Instant) {
            timings.append((label, clock.now - since))
            since = clock.now
        }
        var mark = begin
        try StrongSwanPaths.requirePrerequisites()
        let pki = try await StrongSwanTestPKI.create(in: temporaryDirectory("swpki"))

        let namespaces = try await withTwoGateways(subnet: 7) { bed in
            lap("namespaces", since: &mark)
            let certA = try await pki.issue(name: "gwA", sans: [bed.a.outerAddress])
            let certB = try await pki.issue(name: "gwB", sans: [bed.b.outerAddress])
            lap("pki (CA + 2 certs)", since: &mark)

            // Before any tunnel the inner addresses are unreachable.
            let direct = try await bed.udpEcho(from: bed.a, to: bed.b, payload: "no-tunnel", timeout: 1)
            #expect(!direct.succeeded, "inner address reachable without a tunnel: \(direct.clientOutput)")
            lap("echo without tunnel (expected to fail)", since: &mark)

            let charonA = try await bed.startCharon(on: bed.a)
            let charonB = try await bed.startCharon(on: bed.b)
            #expect(charonA.pid != charonB.pid)
            lap("start 2 charons", since: &mark)
            try await charonA.load(SwanctlConfig(connections: [
                bed.netToNet(from: bed.a, to: bed.b, certificate: certA.certificate, privateKey: certA.key,
                             caCertificates: [pki.caCertificate]),
            ]))
            try await charonB.load(SwanctlConfig(connections: [
                bed.netToNet(from: bed.b, to: bed.a, certificate: certB.certificate, privateKey: certB.key,
                             caCertificates: [pki.caCertificate]),
            ]))
            lap("swanctl --load-all x2", since: &mark)

            try await charonA.initiate(child: "tg")
            lap("initiate IKE_SA + CHILD_SA", since: &mark)

            let before = try await charonA.childSAs(named: "tg")
            try #require(before.count == 1, "expected one CHILD_SA: \(before)\n\(bed.diagnostics())")
            #expect(before[0].state == "INSTALLED")
            #expect(before[0].localTS == [bed.a.innerAddress + "/32"])
            let ike = try await charonB.listSAs()
            #expect(ike.first?.state == "ESTABLISHED")
            #expect(ike.first?.remoteID == bed.a.outerAddress)

            let payload = "tollgate-\(UInt32.random(in: 0...UInt32.max))"
            let echo = try await bed.udpEcho(from: bed.a, to: bed.b, payload: payload)
            lap("UDP echo through tunnel", since: &mark)
            #expect(echo.succeeded, """
                echo failed: client: \(echo.clientOutput) server: \(echo.serverOutput)
                \(bed.diagnostics())
                """)

            let afterA = try await charonA.childSAs(named: "tg")
            let afterB = try await charonB.childSAs(named: "tg")
            try #require(afterA.count == 1 && afterB.count == 1, "CHILD_SAs after echo: \(afterA) \(afterB)")
            #expect(afterA[0].bytesOut > before[0].bytesOut && afterA[0].packetsOut > 0, "\(afterA[0])")
            #expect(afterA[0].bytesIn > before[0].bytesIn && afterA[0].packetsIn > 0, "\(afterA[0])")
            #expect(afterB[0].bytesIn > 0 && afterB[0].bytesOut > 0, "\(afterB[0])")
            print("StrongSwanHarness: A \(afterA[0])\nStrongSwanHarness: B \(afterB[0])")
            return [bed.a.namespace, bed.b.namespace]
        }
        lap("shutdown (stop charons, delete namespaces)", since: &mark)
        for namespace in namespaces { #expect(!namespace.exists(), "namespace \(namespace) left behind") }
        timings.append(("total", clock.now - begin))
        print(timings.map { "StrongSwanHarness timing: \($0.0): \($0.1)" }.joined(separator: "\n"))
    }

    /// A peer whose certificate comes from another CA is refused; the harness reports it
    /// as a thrown error carrying charon's log.
    @Test(.timeLimit(.minutes(3)))
    func peerFromForeignCAIsRefused() async throws {
        try StrongSwanPaths.requirePrerequisites()
        let trusted = try await StrongSwanTestPKI.create(in: temporaryDirectory("swpki"))
        let foreign = try await StrongSwanTestPKI.create(in: temporaryDirectory("swpki"), name: "Foreign CA")
        try await withTwoGateways(subnet: 8) { bed in
            let certA = try await trusted.issue(name: "gwA", sans: [bed.a.outerAddress])
            let certB = try await foreign.issue(name: "gwB", sans: [bed.b.outerAddress])
            let charonA = try await bed.startCharon(on: bed.a)
            let charonB = try await bed.startCharon(on: bed.b)
            try await charonA.load(SwanctlConfig(connections: [
                bed.netToNet(from: bed.a, to: bed.b, certificate: certA.certificate, privateKey: certA.key,
                             caCertificates: [trusted.caCertificate]),
            ]))
            try await charonB.load(SwanctlConfig(connections: [
                bed.netToNet(from: bed.b, to: bed.a, certificate: certB.certificate, privateKey: certB.key,
                             caCertificates: [trusted.caCertificate, foreign.caCertificate]),
            ]))
            let attempt = try await charonA.tryInitiate(child: "tg", timeout: 10)
            #expect(attempt.status != 0, "initiate should fail: \(attempt.output)")
            #expect(try await charonA.childSAs(named: "tg").isEmpty)
            let log = charonA.logTail(200)
            #expect(log.contains("no trusted ECDSA public key found") || log.contains("constraint check failed")
                    || log.contains("no issuer certificate found"), "charon A log:\n\(log)")
        }
    }

    /// `revocation = strict` with a locally loaded CRL: a revoked peer is refused, a peer
    /// the CRL does not list is accepted (strict also fails when no CRL is available).
    @Test(.timeLimit(.minutes(3)), arguments: [false, true])
    func strictRevocationUsesCRL(peerRevoked: Bool) async throws {
        try StrongSwanPaths.requirePrerequisites()
        let pki = try await StrongSwanTestPKI.create(in: temporaryDirectory("swpki"))
        try await withTwoGateways(subnet: 9) { bed in
            let certA = try await pki.issue(name: "gwA", sans: [bed.a.outerAddress])
            let certB = try await pki.issue(name: "gwB", sans: [bed.b.outerAddress])
            let crl = try await pki.signCRL(revoking: peerRevoked ? [certB.certificate] : [])
            let charonA = try await bed.startCharon(on: bed.a)
            let charonB = try await bed.startCharon(on: bed.b)
            var connectionA = bed.netToNet(from: bed.a, to: bed.b, certificate: certA.certificate, privateKey: certA.key,
                                           caCertificates: [pki.caCertificate], revocation: .strict)
            connectionA.crls = [crl]
            try await charonA.load(SwanctlConfig(connections: [connectionA]))
            try await charonB.load(SwanctlConfig(connections: [
                bed.netToNet(from: bed.b, to: bed.a, certificate: certB.certificate, privateKey: certB.key,
                             caCertificates: [pki.caCertificate]),
            ]))
            let attempt = try await charonA.tryInitiate(child: "tg", timeout: 10)
            let log = charonA.logTail(200)
            if peerRevoked {
                #expect(attempt.status != 0, "a revoked peer must be refused: \(attempt.output)")
                #expect(log.contains("certificate was revoked"), "charon A log:\n\(log)")
            } else {
                #expect(attempt.status == 0, "a good peer must be accepted under strict revocation:\n\(log)")
                #expect(try await charonA.childSAs(named: "tg").count == 1)
            }
        }
    }

    /// When the body throws, the charons are stopped and the namespaces deleted anyway.
    @Test(.timeLimit(.minutes(1)))
    func teardownRunsWhenBodyThrows() async throws {
        struct Planned: Error {}
        nonisolated(unsafe) var seen: (namespaces: [NetworkNamespace], pid: pid_t)?
        await #expect(throws: Planned.self) {
            try await withTwoGateways(subnet: 10) { bed in
                let charon = try await bed.startCharon(on: bed.a)
                seen = ([bed.a.namespace, bed.b.namespace], charon.pid)
                #expect(kill(charon.pid, 0) == 0)
                throw Planned()
            }
        }
        let (namespaces, pid) = try #require(seen)
        for namespace in namespaces { #expect(!namespace.exists(), "namespace \(namespace) left behind") }
        #expect(kill(pid, 0) == -1 && errno == ESRCH, "charon \(pid) still running")
    }
}
