import ArgumentParser
import CertificateAuthority
import Crypto
import Directory
import Foundation
import LDAPClient
import ManagedSlapd
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization
import X509

/// `tollgate-fleet-sim`: N simulated converter agents in one process, each with its own
/// certificate from the Tollgate CA under `--data DIR/pki` and its own HTTPS port on
/// 127.0.0.1, serving the agent status contract (`/v1/status`, `/v1/traffic`) to a
/// client with `CN=tollgate-monitor`. A plain HTTP control port stops/starts converters
/// and reports what was produced and acknowledged.
@main
struct FleetSimulator: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tollgate-fleet-sim", abstract: "Simulate a fleet of converter agents for Tollgate's monitor.")

    @Option(name: .long, help: "Tollgate's data directory (its CA under DIR/pki; its managed slapd for --create-entries).") var data: String
    @Option(name: .long, help: "Number of simulated converters.") var count = 10
    @Option(name: .long, help: "Tenant (organisation number) of the converters.") var org = "1001"
    @Option(name: .long, help: "Converter name prefix (names are PREFIX00000, PREFIX00001, …).") var prefix = "sim-"
    @Option(name: .long, help: "First port (converter i listens on PORT+i); 0: ports chosen by the system.") var basePort = 0
    @Option(name: .long, help: "Seconds between synthetic records of one converter (0: no traffic).") var recordInterval = 1.0
    @Option(name: .long, help: "Plain HTTP control port on 127.0.0.1 (0: chosen by the system).") var controlPort = 0
    @Option(name: .long, help: "Write a JSON file with the control port and converters when ready.") var readyFile: String?
    @Option(name: .long, help: "Event loop threads.") var threads = System.coreCount
    @Option(name: .long, help: "Validity of the simulated converters' certificates in days.") var validityDays = 365.0
    @Flag(name: .long, help: "Create (or update) the converter entries in the managed slapd of --data.") var createEntries = false
    @Option(name: .long, help: "Also write the converter entries as LDIF to this file.") var ldif: String?

    func run() async throws {
        // Every converter holds a listening and an accepted socket: raise the soft
        // open-files limit to the hard one, and say so when the fleet cannot fit.
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 {
            if limit.rlim_cur < limit.rlim_max {
                var raised = limit
                raised.rlim_cur = limit.rlim_max
                if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
            }
            if limit.rlim_cur != rlim_t.max, UInt64(2 * count + 64) > UInt64(limit.rlim_cur) {
                FileHandle.standardError.write(Data(("warning: \(count) converters need about \(2 * count + 64) open files, the limit is \(limit.rlim_cur); "
                    + "split the fleet over several processes (--prefix keeps their names apart)\n").utf8))
            }
        }
        let authority = try CertificateAuthority(directory: URL(fileURLWithPath: data).appendingPathComponent("pki"))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
        let roots = try [authority.rootCertificateDER, authority.issuingCertificateDER].map { try NIOSSLCertificate(bytes: $0, format: .der) }
        let issuing = try NIOSSLCertificate(bytes: authority.issuingCertificateDER, format: .der)
        // The control port first, so that it has its socket whatever the fleet's size;
        // it answers 503 until the fleet is up.
        let box = FleetBox()
        let control = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(SimpleHTTPHandler(requireMonitor: false) { method, uri, _ in
                        guard let fleet = box.fleet.withLock({ $0 }) else { return (.serviceUnavailable, ["error": "starting"]) }
                        return fleet.control(method: method, uri: uri)
                    })
                }
            }
            .bind(host: "127.0.0.1", port: controlPort).get()
        let start = Date()
        var endpoints: [Endpoint] = []
        let profile = LeafProfile(validity: validityDays * 86_400)
        for index in 0..<count {
            let name = prefix + String(repeating: "0", count: max(0, 5 - String(index).count)) + String(index)
            let key = P256.Signing.PrivateKey()
            let csr = try CertificateSigningRequest(version: .v1, subject: try DistinguishedName { CommonName(name) },
                                                    privateKey: Certificate.PrivateKey(key),
                                                    attributes: CertificateSigningRequest.Attributes(), signatureAlgorithm: .ecdsaWithSHA256)
            let issued = try authority.issue(csr: csr, subject: LeafSubject(commonName: name, organizationalUnit: org, ipAddresses: ["127.0.0.1"]),
                                             profile: profile)
            var tls = TLSConfiguration.makeServerConfiguration(
                certificateChain: [.certificate(try NIOSSLCertificate(bytes: issued.derEncoded, format: .der)), .certificate(issuing)],
                privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(key.pemRepresentation.utf8), format: .pem)))
            tls.minimumTLSVersion = .tlsv12
            tls.certificateVerification = .noHostnameVerification
            tls.trustRoots = .certificates(roots)
            let converter = SimulatedConverter(index: index, name: name, org: org, serial: issued.serialHex,
                                               notAfter: issued.certificate.notValidAfter, recordInterval: recordInterval, start: start)
            let endpoint = Endpoint(converter: converter, context: try NIOSSLContext(configuration: tls), group: group,
                                    port: basePort > 0 ? basePort + index : 0)
            try await endpoint.start()
            endpoints.append(endpoint)
        }
        let fleet = Fleet(endpoints: endpoints)
        box.fleet.withLock { $0 = fleet }
        if createEntries || ldif != nil {
            try await writeEntries(endpoints, create: createEntries)
        }
        let port = control.localAddress?.port ?? controlPort
        if let readyFile {
            let list: [[String: Any]] = endpoints.map { ["name": $0.converter.name, "port": $0.port] }
            let info: [String: Any] = ["control": port, "converters": list]
            try JSONSerialization.data(withJSONObject: info).write(to: URL(fileURLWithPath: readyFile + ".tmp"))
            try FileManager.default.moveItem(atPath: readyFile + ".tmp", toPath: readyFile)
        }
        FileHandle.standardOutput.write(Data("READY converters=\(count) control=\(port) setup=\(String(format: "%.1f", Date().timeIntervalSince(start)))s\n".utf8))
        try await control.closeFuture.get()
    }

    /// Converter entries (certified, with serial, expiry, address 127.0.0.1 and status port).
    private func writeEntries(_ endpoints: [Endpoint], create: Bool) async throws {
        let layout = DirectoryLayout()
        var writes: [LDAPWrite] = []
        var text = ""
        for endpoint in endpoints {
            let sim = endpoint.converter
            guard let address = IPAddress("127.0.0.1") else { continue }
            var converter = Converter(name: sim.name, orgNumber: org, address: address, model: "fleet-sim", state: "certified")
            converter.certificateSerials = [sim.serial]
            converter.certificateNotAfter = sim.notAfter
            let attributes = converter.entryAttributes + [("tgStatusPort", [String(endpoint.port)])]
            let dn = layout.converter(org, sim.name)
            writes.append(.add(dn, attributes.map { ($0.0, $0.1.map { Data($0.utf8) }) }))
            text += "dn: \(dn)\n" + attributes.flatMap { name, values in values.map { "\(name): \($0)\n" } }.joined() + "\n"
        }
        if let ldif { try text.write(toFile: ldif, atomically: true, encoding: .utf8) }
        guard create else { return }
        let client = ManagedSlapd(dataDirectory: data).client(maximumConnections: 1)
        var index = 0
        while index < writes.count {
            let group = Array(writes[index..<min(writes.count, index + 250)])
            index += group.count
            do {
                try await client.transaction(group)
            } catch {
                // Some exist already (a second run): update them one by one.
                for write in group {
                    guard case .add(let dn, let attributes) = write else { continue }
                    do {
                        try await client.apply(write)
                    } catch let error as LDAPError where error.code == .entryAlreadyExists {
                        let keep = Set(["tgStatusPort", "tgCertificateSerial", "tgCertificateNotAfter", "ipHostNumber", "tgState"])
                        try await client.modify(dn, attributes.filter { keep.contains($0.0) }.map { LDAPModification(.replace, $0.0, $0.1) })
                    }
                }
            }
        }
        await client.close()
    }
}

/// The fleet, once it is up (the control port answers before).
final class FleetBox: Sendable {
    let fleet = Mutex<Fleet?>(nil)
}
