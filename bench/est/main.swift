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

/// `tollgate-est-bench`: EST enrolment throughput against `tollgate serve`, and the raw
/// signing rate of the same CA in-process (the ceiling). `bench/est-run` drives it.
///
/// Converter `i` (0 ≤ i < count) is `cN` with N = i, registered to tenant
/// `org-base + i % tenants`, whose subscriber ID is `<org>-01` and signature
/// `<signature-prefix><org>`. Output lines are `key=value` pairs.
@main
struct ESTBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tollgate-est-bench",
        abstract: "Measure EST enrolments/s and the raw certificate signing rate.",
        subcommands: [Enroll.self, Sign.self]
    )
}

/// P-256 CSRs for converters `c<first>` … (generated before the clock starts).
func makeCSRs(first: Int, count: Int) throws -> [(name: String, der: [UInt8], key: Certificate.PublicKey)] {
    try (first..<(first + count)).map { i in
        let key = P256.Signing.PrivateKey()
        let name = "c\(i)"
        let csr = try CertificateSigningRequest(
            version: .v1, subject: try DistinguishedName { CommonName(name) },
            privateKey: Certificate.PrivateKey(key), attributes: CertificateSigningRequest.Attributes(),
            signatureAlgorithm: .ecdsaWithSHA256)
        var serializer = DER.Serializer()
        try serializer.serialize(csr)
        return (name, serializer.serializedBytes, Certificate.PublicKey(key.publicKey))
    }
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.down)))]
}

func format(_ value: Double, _ digits: Int = 3) -> String { String(format: "%.\(digits)f", value) }

// MARK: - enroll

final class Shared: Sendable {
    let next = Atomic<Int>(0)
    let failures = Mutex<[String]>([])
    let issued = Atomic<Int>(0)
    let failed = Atomic<Int>(0)
}

struct Enroll: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "POST /.well-known/est/simpleenroll for every converter over keep-alive HTTPS connections.")

    @Option(help: "Host of the EST server.") var host = "127.0.0.1"
    @Option(help: "Port of the EST server.") var port: Int
    @Option(help: "PEM of the root CA (TLS trust anchor).") var rootCa: String
    @Option(help: "PEM of the issuing CA (to verify a sample of the issued certificates).") var issuingCa: String
    @Option(help: "Converters to enrol.") var count = 10_000
    @Option(help: "First converter number.") var first = 0
    @Option(help: "Concurrent clients (one keep-alive TLS connection each).") var clients = 32
    @Option(help: "Number of tenants the converters are spread over.") var tenants = 100
    @Option(help: "Organisation number of the first tenant.") var orgBase = 200_000
    @Option(help: "Signature of tenant ORG is PREFIX+ORG.") var signaturePrefix = "bench-signature-"
    @Option(help: "Verify every Nth issued certificate (CN, key, issuer signature).") var validateEvery = 50

    func run() async throws {
        let csrs = try makeCSRs(first: first, count: count)
        let bodies = csrs.map { ByteBuffer(string: Data($0.der).base64EncodedString()) }
        let issuing = try Certificate(pemEncoded: String(contentsOfFile: issuingCa, encoding: .utf8))
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(rootCa))
        tls.certificateVerification = .noHostnameVerification
        let context = try NIOSSLContext(configuration: tls)

        let shared = Shared()
        let (host, port, count, first, tenants, orgBase, signaturePrefix, validateEvery) =
            (host, port, count, first, tenants, orgBase, signaturePrefix, validateEvery)
        let start = ContinuousClock.now
        let perClient = try await withThrowingTaskGroup(of: (ok: Int, errors: Int, validated: Int, latencies: [Double]).self) { group in
            for _ in 0..<clients {
                group.addTask {
                    var ok = 0, errors = 0, validated = 0
                    var latencies: [Double] = []
                    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                        .connect(host: host, port: port) { channel in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: nil))
                                try channel.pipeline.syncOperations.addHTTPClientHandlers()
                                return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                            }
                        }
                    try await channel.executeThenClose { inbound, outbound in
                        var responses = inbound.makeAsyncIterator()
                        while true {
                            let i = shared.next.wrappingAdd(1, ordering: .relaxed).oldValue
                            if i >= count { break }
                            let org = orgBase + (first + i) % tenants
                            let auth = Data("\(org)-01:\(signaturePrefix)\(org)".utf8).base64EncodedString()
                            var headers = HTTPHeaders()
                            headers.add(name: "Host", value: "\(host):\(port)")
                            headers.add(name: "Content-Type", value: "application/pkcs10")
                            headers.add(name: "Authorization", value: "Basic \(auth)")
                            headers.add(name: "Content-Length", value: String(bodies[i].readableBytes))
                            let began = ContinuousClock.now
                            try await outbound.write(.head(HTTPRequestHead(version: .http1_1, method: .POST,
                                                                           uri: "/.well-known/est/simpleenroll", headers: headers)))
                            try await outbound.write(.body(.byteBuffer(bodies[i])))
                            try await outbound.write(.end(nil))
                            var status: HTTPResponseStatus = .internalServerError
                            var body = ByteBuffer()
                            loop: while let part = try await responses.next() {
                                switch part {
                                case .head(let head): status = head.status
                                case .body(var chunk): body.writeBuffer(&chunk)
                                case .end: break loop
                                }
                            }
                            latencies.append((ContinuousClock.now - began) / .milliseconds(1))
                            if status == .ok {
                                ok += 1
                                if i % validateEvery == 0 {
                                    if let problem = Self.validate(body, csr: csrs[i], issuing: issuing) {
                                        errors += 1
                                        shared.failures.withLock { $0.append("c\(first + i): \(problem)") }
                                    } else {
                                        validated += 1
                                    }
                                }
                            } else {
                                errors += 1
                                let text = String(buffer: body).prefix(200)
                                shared.failures.withLock { $0.append("c\(first + i): HTTP \(status.code) \(text)") }
                            }
                        }
                    }
                    return (ok, errors, validated, latencies)
                }
            }
            var all: [(ok: Int, errors: Int, validated: Int, latencies: [Double])] = []
            for try await result in group { all.append(result) }
            return all
        }
        let seconds = (ContinuousClock.now - start) / .seconds(1)
        let ok = perClient.reduce(0) { $0 + $1.ok }
        let errors = perClient.reduce(0) { $0 + $1.errors }
        let validated = perClient.reduce(0) { $0 + $1.validated }
        let latencies = perClient.flatMap(\.latencies).sorted()
        for failure in shared.failures.withLock({ $0 }).prefix(5) {
            FileHandle.standardError.write(Data("tollgate-est-bench: \(failure)\n".utf8))
        }
        print("ok=\(ok) errors=\(errors) validated=\(validated) seconds=\(format(seconds)) rate=\(format(Double(ok) / seconds, 1))"
              + " p50_ms=\(format(percentile(latencies, 0.5))) p99_ms=\(format(percentile(latencies, 0.99)))")
    }

    /// Checks a 200 body: single-line base64 certs-only CMS holding one certificate for the
    /// CSR's key, named after the converter and signed by the issuing CA. nil if fine.
    static func validate(_ body: ByteBuffer, csr: (name: String, der: [UInt8], key: Certificate.PublicKey),
                         issuing: Certificate) -> String? {
        let text = String(buffer: body)
        guard !text.contains("\n"), let der = Data(base64Encoded: text) else { return "body is not single-line base64" }
        do {
            let contentInfo = try DER.parse(Array(der))
            guard case .constructed(let ci) = contentInfo.content, let explicit = Array(ci).dropFirst().first,
                  case .constructed(let wrapped) = explicit.content, let signedData = Array(wrapped).first,
                  case .constructed(let fields) = signedData.content,
                  let certificates = Array(fields).first(where: { $0.identifier == ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific) }),
                  case .constructed(let certs) = certificates.content else { return "not a certs-only SignedData" }
            let list = try Array(certs).map { try Certificate(derEncoded: Array($0.encodedBytes)) }
            guard list.count == 1, let certificate = list.first else { return "\(list.count) certificates, expected 1" }
            guard certificate.publicKey == csr.key else { return "certificate is not for the CSR's key" }
            guard certificate.subject.description.contains("CN=\(csr.name)") else { return "subject \(certificate.subject)" }
            guard issuing.publicKey.isValidSignature(certificate.signature, for: certificate) else { return "not signed by the issuing CA" }
            return nil
        } catch {
            return "cannot parse: \(error)"
        }
    }
}

// MARK: - sign

struct Sign: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Issue certificates in-process with the CA under DATA/pki on every core (the ceiling for EST).")

    @Option(help: "Data directory of the Tollgate instance (uses DATA/pki).") var data: String
    @Option(help: "Measured duration in seconds.") var seconds = 5.0
    @Option(help: "Threads (default: all cores).") var threads = ProcessInfo.processInfo.activeProcessorCount

    func run() throws {
        let authority = try CertificateAuthority(directory: URL(fileURLWithPath: data).appendingPathComponent("pki"))
        let csrs = try makeCSRs(first: 0, count: 256).map { try CSRParser.parse($0.der) }
        let profile = LeafProfile(crlDistributionPoints: ["ldap://127.0.0.1:3389/cn=ca,ou=pki,dc=tollgate?certificateRevocationList",
                                                          "https://127.0.0.1:8443/pki/crl"])
        let shared = Shared()
        let deadline = Date().addingTimeInterval(seconds)
        let start = ContinuousClock.now
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            var i = thread
            while Date() < deadline {
                let subject = LeafSubject(commonName: "c\(i)", organizationalUnit: "200000", ipAddresses: ["192.0.2.1"])
                do {
                    let certificate = try authority.issue(csr: csrs[i % csrs.count], subject: subject, profile: profile)
                    _ = try CertsOnlyPKCS7.encode([certificate.certificate])
                    shared.issued.wrappingAdd(1, ordering: .relaxed)
                } catch {
                    shared.failed.wrappingAdd(1, ordering: .relaxed)
                }
                i += threads
            }
        }
        let elapsed = (ContinuousClock.now - start) / .seconds(1)
        let count = shared.issued.load(ordering: .relaxed)
        print("issued=\(count) errors=\(shared.failed.load(ordering: .relaxed)) threads=\(threads) seconds=\(format(elapsed)) rate=\(format(Double(count) / elapsed, 1))")
    }
}
