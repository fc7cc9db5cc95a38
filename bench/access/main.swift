import ArgumentParser
import CertificateAuthority
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import SwiftASN1
import Synchronization
import X509

/// `tollgate-access-bench`: data for, and the client of, the access-decision benchmark
/// (`bench/access-run` drives it).
///
/// `prepare` writes an LDIF of N tenants × 10 destinations (and converters with
/// certificates from the instance's CA, keys written next to it) for `slapadd -q`;
/// `run` asks `POST /v1/access/check` (or `/v1/access/batch`) over keep-alive mTLS
/// connections, one converter certificate per connection, and checks every answer.
@main
struct AccessBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tollgate-access-bench",
        abstract: "Prepare data for and measure access decisions/s over the mTLS API.",
        subcommands: [Prepare.self, Run.self]
    )
}

/// The ten destinations of tenant `t` (same shape for every tenant, some networks vary
/// with `t`), and questions with the answers they must get.
enum Pattern {
    static func hex(_ t: Int) -> String { String(t % 65_536, radix: 16) }

    /// (name suffix, network, protocol, ports, action, notAfter)
    static func destinations(_ t: Int) -> [(String, String, String, [String], String, String?)] {
        [("web", "10.0.0.0/8", "tcp", ["443"], "allow", nil),
         ("lan", "10.1.0.0/16", "any", [], "allow", nil),
         ("ssh-deny", "10.1.2.0/24", "tcp", ["22"], "deny", nil),
         ("dns", "10.2.0.0/16", "udp", ["53"], "allow", nil),
         ("site", "192.168.\(t % 256).0/24", "any", [], "allow", nil),
         ("apps", "172.16.0.0/12", "tcp", ["8000-8100"], "allow", nil),
         ("v6", "2001:db8:\(hex(t))::/48", "any", [], "allow", nil),
         ("v6-deny", "2001:db8:\(hex(t)):1::/64", "any", [], "deny", nil),
         ("old", "10.3.0.0/16", "tcp", [], "allow", "20200101000000Z"),
         ("rdp", "10.4.\(t % 256).0/24", "tcp", ["3389"], "allow", nil)]
    }

    /// (destination, protocol, port, allowed)
    static func questions(_ t: Int) -> [(String, String, Int, Bool)] {
        [("10.9.8.7", "tcp", 443, true), ("10.1.2.3", "tcp", 22, false), ("10.1.2.3", "tcp", 80, true),
         ("10.2.0.5", "udp", 53, true), ("10.2.0.5", "udp", 54, false), ("192.168.\(t % 256).9", "tcp", 8080, true),
         ("172.20.1.1", "tcp", 8050, true), ("2001:db8:\(hex(t))::1", "tcp", 443, true),
         ("2001:db8:\(hex(t)):1::1", "tcp", 443, false), ("10.3.0.1", "tcp", 22, false),
         ("10.4.\(t % 256).5", "tcp", 3389, true), ("8.8.8.8", "udp", 53, false)]
    }

    /// First and last address of an IPv4 or IPv6 CIDR as 32 hex digits (IPv4 mapped).
    static func range(_ cidr: String) -> (String, String, Int) {
        let parts = cidr.split(separator: "/")
        let length = Int(parts[1])!
        var bytes = [UInt8](repeating: 0, count: 16)
        var total = length
        if parts[0].contains(":") {
            var address = in6_addr()
            _ = inet_pton(AF_INET6, String(parts[0]), &address)
            bytes = withUnsafeBytes(of: &address) { Array($0) }
        } else {
            var address = in_addr()
            _ = inet_pton(AF_INET, String(parts[0]), &address)
            bytes[10] = 0xff
            bytes[11] = 0xff
            withUnsafeBytes(of: &address) { for i in 0..<4 { bytes[12 + i] = $0[i] } }
            total += 96
        }
        var last = bytes
        for i in 0..<16 {
            let bits = max(0, min(8, total - i * 8))
            last[i] |= bits == 8 ? 0 : UInt8(truncatingIfNeeded: 0xff >> bits)
        }
        func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }
        return (hex(bytes), hex(last), length)
    }
}

struct Prepare: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write the benchmark LDIF and converter credentials.")
    @Option(help: "Data directory of the Tollgate instance (its CA in DATA/pki is used, or created).") var data: String
    @Option(help: "Output directory (data.ldif, clients.txt, keys and certificates).") var out: String
    @Option(help: "Tenants.") var tenants = 10_000
    @Option(help: "Converters with certificates, spread evenly over the tenants (one per connection).") var converters = 32
    @Option(help: "Organisation number of the first tenant.") var orgBase = 300_000

    func run() throws {
        let authority = try CertificateAuthority(directory: URL(fileURLWithPath: data).appendingPathComponent("pki"))
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        var ldif = ""
        ldif.reserveCapacity(tenants * 3000)
        var clients = ""
        let step = max(1, tenants / max(1, converters))
        for t in 0..<tenants {
            let org = orgBase + t
            let tenant = "tgOrgNumber=\(org),ou=subscribers,dc=tollgate"
            ldif += "dn: \(tenant)\nobjectClass: tgSubscriber\ntgOrgNumber: \(org)\ntgSubscriberId: \(org)-01\no: Bench tenant \(org)\nmail: bench-\(org)@bench.example\ntgState: active\n\n"
            for ou in ["converters", "destinations", "history", "traffic", "reports"] {
                ldif += "dn: ou=\(ou),\(tenant)\nobjectClass: organizationalUnit\nou: \(ou)\n\n"
            }
            for (j, d) in Pattern.destinations(t).enumerated() {
                let (from, to, length) = Pattern.range(d.1)
                ldif += "dn: cn=dest-\(t * 10 + j),ou=destinations,\(tenant)\nobjectClass: tgDestination\ncn: dest-\(t * 10 + j)\n"
                ldif += "tgOrgNumber: \(org)\ntgNetwork: \(d.1)\ntgAddressFrom: \(from)\ntgAddressTo: \(to)\ntgPrefixLength: \(length)\n"
                ldif += "tgProtocol: \(d.2)\n" + d.3.map { "tgPortRange: \($0)\n" }.joined()
                if d.4 == "deny" { ldif += "tgAction: deny\n" }
                if let notAfter = d.5 { ldif += "tgNotBefore: 20190101000000Z\ntgNotAfter: \(notAfter)\n" }
                ldif += "description: \(d.0)\n\n"
            }
            if t % step == 0 && t / step < converters {
                let name = "bench-c\(t / step)"
                let key = P256.Signing.PrivateKey()
                let csr = try CertificateSigningRequest(
                    version: .v1, subject: try DistinguishedName { CommonName(name) }, privateKey: Certificate.PrivateKey(key),
                    attributes: CertificateSigningRequest.Attributes(), signatureAlgorithm: .ecdsaWithSHA256)
                let issued = try authority.issue(csr: csr, subject: LeafSubject(commonName: name, organizationalUnit: String(org),
                                                                                ipAddresses: ["192.0.2.1"]))
                let certPath = "\(out)/\(name).pem", keyPath = "\(out)/\(name).key"
                try issued.pemEncoded.write(toFile: certPath, atomically: true, encoding: .utf8)
                try key.pemRepresentation.write(toFile: keyPath, atomically: true, encoding: .utf8)
                ldif += "dn: cn=\(name),ou=converters,\(tenant)\nobjectClass: tgConverter\nobjectClass: pkiUser\ncn: \(name)\n"
                ldif += "tgOrgNumber: \(org)\ntgConverterId: \(org)-\(name)\ntgState: certified\nipHostNumber: 192.0.2.1\n"
                ldif += "tgCertificateSerial: \(issued.serialHex)\nuserCertificate;binary:: \(Data(issued.derEncoded).base64EncodedString())\n\n"
                clients += "\(t) \(org) \(name) \(certPath) \(keyPath)\n"
            }
        }
        try ldif.write(toFile: "\(out)/data.ldif", atomically: true, encoding: .utf8)
        try clients.write(toFile: "\(out)/clients.txt", atomically: true, encoding: .utf8)
        print("tenants=\(tenants) destinations=\(tenants * 10) converters=\(min(converters, tenants)) entries=\(tenants * 16 + min(converters, tenants))")
    }
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.down)))]
}

func format(_ value: Double, _ digits: Int = 3) -> String { String(format: "%.\(digits)f", value) }

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Measure access decisions/s over keep-alive mTLS connections.")
    @Option(help: "Host of tollgate serve.") var host = "127.0.0.1"
    @Option(help: "HTTPS port.") var port: Int
    @Option(help: "PEM of the root CA.") var rootCa: String
    @Option(help: "clients.txt written by prepare.") var clients: String
    @Option(help: "Connections (each with the next converter's certificate).") var connections = 8
    @Option(help: "Measured seconds.") var seconds = 10.0
    @Option(help: "Checks per request: 0 for POST /v1/access/check, N for /v1/access/batch with N checks.") var batch = 0
    @Option(help: "Seconds of warm-up before measuring (not counted).") var warmup = 1.0

    struct Client {
        var tenant: Int
        var context: NIOSSLContext
    }

    func run() async throws {
        let lines = try String(contentsOfFile: clients, encoding: .utf8).split(separator: "\n")
        guard !lines.isEmpty else { throw ValidationError("no clients in \(clients)") }
        let root = try NIOSSLCertificate.fromPEMFile(rootCa)
        var prepared: [Client] = []
        for index in 0..<connections {
            let fields = lines[index % lines.count].split(separator: " ").map(String.init)
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .certificates(root)
            tls.certificateVerification = .noHostnameVerification
            tls.certificateChain = try NIOSSLCertificate.fromPEMFile(fields[3]).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: fields[4], format: .pem))
            prepared.append(Client(tenant: Int(fields[0])!, context: try NIOSSLContext(configuration: tls)))
        }
        let (host, port, batch, seconds, warmup) = (host, port, batch, seconds, warmup)
        let start = ContinuousClock.now
        let measureFrom = start + .milliseconds(Int(warmup * 1000))
        let deadline = measureFrom + .milliseconds(Int(seconds * 1000))
        let results = try await withThrowingTaskGroup(of: (ops: Int, decisions: Int, errors: Int, latencies: [Double], sample: String).self) { group in
            for client in prepared {
                group.addTask {
                    let questions = Pattern.questions(client.tenant)
                    // Request bodies and the answers they must get, built before the clock starts.
                    var requests: [(ByteBuffer, [Bool])] = []
                    if batch == 0 {
                        for q in questions {
                            requests.append((ByteBuffer(string: "{\"destination\":\"\(q.0)\",\"protocol\":\"\(q.1)\",\"port\":\(q.2)}"), [q.3]))
                        }
                    } else {
                        for offset in 0..<questions.count {
                            let chosen = (0..<batch).map { questions[(offset + $0) % questions.count] }
                            let body = "{\"checks\":[" + chosen.map { "{\"destination\":\"\($0.0)\",\"protocol\":\"\($0.1)\",\"port\":\($0.2)}" }
                                .joined(separator: ",") + "]}"
                            requests.append((ByteBuffer(string: body), chosen.map(\.3)))
                        }
                    }
                    let path = batch == 0 ? "/v1/access/check" : "/v1/access/batch"
                    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                        .channelOption(.socketOption(.tcp_nodelay), value: 1)
                        .connect(host: host, port: port) { channel in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: client.context, serverHostname: nil))
                                try channel.pipeline.syncOperations.addHTTPClientHandlers()
                                return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                            }
                        }
                    var ops = 0, decisions = 0, errors = 0, sample = ""
                    var latencies: [Double] = []
                    latencies.reserveCapacity(200_000)
                    try await channel.executeThenClose { inbound, outbound in
                        var responses = inbound.makeAsyncIterator()
                        var i = Int.random(in: 0..<requests.count)
                        var headers = HTTPHeaders()
                        headers.add(name: "Host", value: "\(host):\(port)")
                        headers.add(name: "Content-Type", value: "application/json")
                        while true {
                            let now = ContinuousClock.now
                            if now >= deadline { break }
                            let (body, expected) = requests[i % requests.count]
                            i += 1
                            var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path, headers: headers)
                            head.headers.add(name: "Content-Length", value: String(body.readableBytes))
                            let began = ContinuousClock.now
                            try await outbound.write(contentsOf: [.head(head), .body(.byteBuffer(body)), .end(nil)])
                            var status: HTTPResponseStatus = .internalServerError
                            var answer = ByteBuffer()
                            loop: while let part = try await responses.next() {
                                switch part {
                                case .head(let head): status = head.status
                                case .body(var chunk): answer.writeBuffer(&chunk)
                                case .end: break loop
                                }
                            }
                            guard began >= measureFrom else { continue }
                            latencies.append((ContinuousClock.now - began) / .milliseconds(1))
                            let text = String(buffer: answer)
                            let allows = text.components(separatedBy: "\"allow\":").dropFirst().map { $0.hasPrefix("true") }
                            if status == .ok && allows == expected {
                                ops += 1
                                decisions += expected.count
                            } else {
                                errors += 1
                                if sample.isEmpty { sample = "HTTP \(status.code) \(text.prefix(300)) expected \(expected)" }
                            }
                        }
                    }
                    return (ops, decisions, errors, latencies, sample)
                }
            }
            var all: [(ops: Int, decisions: Int, errors: Int, latencies: [Double], sample: String)] = []
            for try await result in group { all.append(result) }
            return all
        }
        let elapsed = seconds
        let ops = results.reduce(0) { $0 + $1.ops }
        let decisions = results.reduce(0) { $0 + $1.decisions }
        let errors = results.reduce(0) { $0 + $1.errors }
        let latencies = results.flatMap(\.latencies).sorted()
        if let sample = results.first(where: { !$0.sample.isEmpty })?.sample {
            FileHandle.standardError.write(Data("tollgate-access-bench: \(sample)\n".utf8))
        }
        print("ops=\(ops) decisions=\(decisions) seconds=\(format(elapsed)) rate=\(format(Double(ops) / elapsed, 1))"
              + " decision_rate=\(format(Double(decisions) / elapsed, 1)) p50_ms=\(format(percentile(latencies, 0.5)))"
              + " p99_ms=\(format(percentile(latencies, 0.99))) errors=\(errors)")
    }
}
