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
    @Option(help: "Event-loop threads of the client (the connections share them).") var clientThreads = 1
    @Option(help: "Requests each connection keeps on the wire (HTTP/1.1 pipelining when > 1; answers come in order).") var pipeline = 1
    @Option(help: "Offered requests/s over all connections (open loop: each connection sends on a fixed schedule and latency counts from the scheduled time, so a late answer also delays the next request's latency); 0: closed loop, as fast as answers come.") var rate = 0.0

    func run() async throws {
        let lines = try String(contentsOfFile: clients, encoding: .utf8).split(separator: "\n")
        guard !lines.isEmpty else { throw ValidationError("no clients in \(clients)") }
        let root = try NIOSSLCertificate.fromPEMFile(rootCa)
        let path = batch == 0 ? "/v1/access/check" : "/v1/access/batch"
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, clientThreads))
        let measureFrom = NIODeadline.now() + .milliseconds(Int64(warmup * 1000))
        let deadline = measureFrom + .milliseconds(Int64(seconds * 1000))
        var done: [EventLoopFuture<ConnectionLoop.Result>] = []
        for index in 0..<connections {
            let fields = lines[index % lines.count].split(separator: " ").map(String.init)
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .certificates(root)
            tls.certificateVerification = .noHostnameVerification
            tls.certificateChain = try NIOSSLCertificate.fromPEMFile(fields[3]).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: fields[4], format: .pem))
            let context = try NIOSSLContext(configuration: tls)
            guard let tenant = Int(fields[0]) else { throw ValidationError("bad line in \(clients): \(lines[index % lines.count])") }
            let requests = Self.requests(tenant: tenant, batch: batch)
            let (host, port) = (host, port)
            // Paced: each connection offers rate/connections requests/s, the connections
            // staggered evenly over one interval.
            let interval: TimeAmount? = rate > 0 ? .nanoseconds(Int64(Double(connections) / rate * 1e9)) : nil
            let firstDue = measureFrom - .milliseconds(Int64(warmup * 1000))
                + .nanoseconds((interval?.nanoseconds ?? 0) * Int64(index) / Int64(connections))
            let channel = try await ClientBootstrap(group: group)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: nil))
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        let loop = ConnectionLoop(host: "\(host):\(port)", path: path, requests: requests,
                                                  measureFrom: measureFrom, deadline: deadline,
                                                  depth: pipeline, pacing: interval.map { ($0, firstDue) },
                                                  done: channel.eventLoop.makePromise())
                        try channel.pipeline.syncOperations.addHandler(loop)
                    }
                }
                .connect(host: host, port: port).get()
            let loop = try await channel.pipeline.handler(type: ConnectionLoop.self).get()
            done.append(loop.done.futureResult)
        }
        var results: [ConnectionLoop.Result] = []
        for future in done { results.append(try await future.get()) }
        try await group.shutdownGracefully()
        let ops = results.reduce(0) { $0 + $1.ops }
        let decisions = results.reduce(0) { $0 + $1.decisions }
        let errors = results.reduce(0) { $0 + $1.errors }
        let latencies = results.flatMap(\.latencies).sorted()
        if let sample = results.first(where: { !$0.sample.isEmpty })?.sample {
            FileHandle.standardError.write(Data("tollgate-access-bench: \(sample)\n".utf8))
        }
        print((rate > 0 ? "offered=\(format(rate, 1)) " : "") + "ops=\(ops) decisions=\(decisions) seconds=\(format(seconds)) rate=\(format(Double(ops) / seconds, 1))"
              + " decision_rate=\(format(Double(decisions) / seconds, 1)) p50_ms=\(format(percentile(latencies, 0.5)))"
              + " p99_ms=\(format(percentile(latencies, 0.99))) errors=\(errors)")
    }

    /// Request bodies and the answers they must get, built before the clock starts.
    static func requests(tenant: Int, batch: Int) -> [(ByteBuffer, [Bool])] {
        let questions = Pattern.questions(tenant)
        func json(_ q: (String, String, Int, Bool)) -> String { "{\"destination\":\"\(q.0)\",\"protocol\":\"\(q.1)\",\"port\":\(q.2)}" }
        if batch == 0 { return questions.map { (ByteBuffer(string: json($0)), [$0.3]) } }
        return (0..<questions.count).map { offset in
            let chosen = (0..<batch).map { questions[(offset + $0) % questions.count] }
            return (ByteBuffer(string: "{\"checks\":[" + chosen.map(json).joined(separator: ",") + "]}"), chosen.map(\.3))
        }
    }
}

/// One keep-alive connection's closed loop, driven by the event loop (no task per
/// request, so the client costs little next to the server it measures): send a request,
/// read the answer, check every `"allow"` in it against the expected decisions, record the
/// latency, send the next, until the deadline. Paced (`--rate`), the next request waits
/// for its scheduled time and its latency counts from that time (no coordinated omission).
/// With `--pipeline N` up to N requests are on the wire at once.
final class ConnectionLoop: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    struct Result: Sendable {
        var ops = 0, decisions = 0, errors = 0
        var latencies: [Double] = []
        var sample = ""
    }

    let done: EventLoopPromise<Result>
    private let head: HTTPRequestHead
    private let path: String
    private let requests: [(ByteBuffer, [Bool])]
    private let measureFrom: NIODeadline
    private let deadline: NIODeadline
    /// Requests on the wire at most (HTTP/1.1 pipelining when > 1).
    private let depth: Int
    private var nextIndex: Int
    /// Sent requests in order: when their clock started and which request it was.
    private var inFlight = CircularBuffer<(began: NIODeadline, index: Int)>()
    private var status: HTTPResponseStatus = .internalServerError
    private var answer = ByteBuffer()
    private var result = Result()
    private var finished = false
    private var timerArmed = false
    private let interval: TimeAmount?
    private var nextDue: NIODeadline

    init(host: String, path: String, requests: [(ByteBuffer, [Bool])], measureFrom: NIODeadline, deadline: NIODeadline,
         depth: Int, pacing: (TimeAmount, NIODeadline)?, done: EventLoopPromise<Result>) {
        self.interval = pacing?.0
        self.nextDue = pacing?.1 ?? .now()
        self.depth = max(1, depth)
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: host)
        headers.add(name: "Content-Type", value: "application/json")
        self.head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path, headers: headers)
        self.path = path
        self.requests = requests
        self.measureFrom = measureFrom
        self.deadline = deadline
        self.done = done
        self.nextIndex = Int.random(in: 0..<max(1, requests.count))
        result.latencies.reserveCapacity(400_000)
    }

    func channelActive(context: ChannelHandlerContext) {
        fill(context)
    }

    /// Sends while the window has room: at once (closed loop) or when due (paced, a timer
    /// for the next one); one flush for what was written together.
    private func fill(_ context: ChannelHandlerContext) {
        var wrote = false
        while inFlight.count < depth {
            let now = NIODeadline.now()
            guard now < deadline else {
                // Past the deadline with nothing on the wire (a paced timer fired late): done.
                if inFlight.isEmpty {
                    finish()
                    context.close(promise: nil)
                }
                break
            }
            let began: NIODeadline
            if let interval {
                guard nextDue <= now else {
                    if !timerArmed {
                        timerArmed = true
                        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
                        context.eventLoop.scheduleTask(deadline: nextDue) { [self] in
                            self.timerArmed = false
                            self.fill(bound.value)
                        }
                    }
                    break
                }
                began = nextDue
                nextDue = nextDue + interval
            } else {
                began = now
            }
            let (body, _) = requests[nextIndex % requests.count]
            var head = self.head
            head.headers.add(name: "Content-Length", value: String(body.readableBytes))
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            context.write(wrapOutboundOut(.end(nil)), promise: nil)
            inFlight.append((began, nextIndex))
            nextIndex += 1
            wrote = true
        }
        if wrote { context.flush() }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = head.status
            answer.clear()
        case .body(var chunk):
            answer.writeBuffer(&chunk)
        case .end:
            let now = NIODeadline.now()
            guard let sent = inFlight.popFirst() else { return }
            let expected = requests[sent.index % requests.count].1
            if sent.began >= measureFrom {
                result.latencies.append(Double((now - sent.began).nanoseconds) / 1_000_000)
                let allows = Self.allows(answer)
                if status == .ok && allows == expected {
                    result.ops += 1
                    result.decisions += expected.count
                } else {
                    result.errors += 1
                    if result.sample.isEmpty {
                        result.sample = "HTTP \(status.code) \(String(buffer: answer).prefix(300)) expected \(expected)"
                    }
                }
            }
            if now < deadline {
                fill(context)
            } else if inFlight.isEmpty {
                finish()
                context.close(promise: nil)
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        result.errors += 1
        if result.sample.isEmpty { result.sample = "connection error: \(error)" }
        finish()
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !finished, result.sample.isEmpty { result.sample = "the server closed the connection" }
        finish()
    }

    private func finish() {
        guard !finished else { return }
        finished = true
        done.succeed(result)
    }

    /// The values of every `"allow":` in the answer, in order, by a byte scan.
    static func allows(_ buffer: ByteBuffer) -> [Bool] {
        let key = Array(#""allow":"#.utf8)
        var found: [Bool] = []
        buffer.withUnsafeReadableBytes { bytes in
            var i = 0
            while i + key.count < bytes.count {
                if bytes[i] == key[0] {
                    var match = true
                    for k in 1..<key.count where bytes[i + k] != key[k] { match = false; break }
                    if match {
                        found.append(bytes[i + key.count] == UInt8(ascii: "t"))
                        i += key.count
                        continue
                    }
                }
                i += 1
            }
        }
        return found
    }
}
