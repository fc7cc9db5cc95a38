import Directory
import Foundation
import LDAPClient
import TestSupport
import Testing

/// A converter's TLS client credentials (PEM files), as EST issued them.
struct ConverterCredentials: Sendable {
    let org: String
    let name: String
    let certificate: String
    let key: String
    /// Lower-case hex serial.
    let serial: String
}

/// One answer of the access API.
struct APIResponse: Sendable {
    var status: Int
    /// Header names lower-cased.
    var headers: [String: String]
    var body: String

    /// The body as a JSON object (empty if it is not one).
    var object: [String: Any] {
        guard let data = body.data(using: .utf8),
              let value = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
        return value
    }

    func bool(_ key: String) -> Bool? { object[key] as? Bool }
    func string(_ key: String) -> String? { object[key] as? String }
    func int(_ key: String) -> Int? { object[key] as? Int }
    func strings(_ key: String) -> [String] { (object[key] as? [Any])?.compactMap { $0 as? String } ?? [] }
    /// `results` of a batch, or `destinations` of a policy.
    func objects(_ key: String) -> [[String: Any]] { object[key] as? [[String: Any]] ?? [] }
}

/// Enrols `converter` of `org` with strongSwan's pki over EST (HTTP Basic with the
/// subscriber's signature) and returns its key and certificate as PEM files.
func enrolConverter(_ server: TollgateProcess, org: String, converter: String, signature: String) async throws -> ConverterCredentials {
    let dir = temporaryDirectory("acc")
    let key = "\(dir)/\(converter).key.pem", csr = "\(dir)/\(converter).csr", cert = "\(dir)/\(converter).pem"
    let gen = try await run("/bin/sh", ["-c", "/usr/bin/pki --gen --type ecdsa --size 256 --outform pem > \(key)"])
    try #require(gen.status == 0, "\(gen.output)")
    let req = try await run("/bin/sh", ["-c", "/usr/bin/pki --req --in \(key) --type ecdsa --dn 'CN=\(converter)' > \(csr)"])
    try #require(req.status == 0, "\(req.output)")
    let est = try await run("/usr/bin/pki", ["--est", "--url", server.url, "--in", csr, "--cacert", server.rootCA, "--cacert", server.issuingCA,
                                             "--userpass", "\(org)-01:\(signature)", "--outform", "pem"])
    try #require(est.status == 0, "\(est.output)")
    try #require(ESTTests.pemBlock(est.output)).write(toFile: cert, atomically: true, encoding: .utf8)
    let serial = try await run("/usr/bin/openssl", ["x509", "-in", cert, "-noout", "-serial"]).output
        .split(separator: "=").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines).lowercased() } ?? ""
    return ConverterCredentials(org: org, name: converter, certificate: cert, key: key,
                                serial: String(serial.drop { $0 == "0" }))
}

/// Calls the access API with curl (HTTP/1.1 over TLS, the converter's client certificate).
func callAPI(_ server: TollgateProcess, _ path: String, method: String = "GET", as credentials: ConverterCredentials?,
             body: String? = nil, contentType: String? = "application/json", headers: [String] = [],
             timeout: Int = 10) async throws -> APIResponse {
    let dir = temporaryDirectory("call")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var arguments = ["-s", "-m", String(timeout), "--http1.1", "--cacert", server.rootCA, "-X", method,
                     "-D", "\(dir)/headers", "-o", "\(dir)/body", "-w", "%{http_code}", "-H", "Expect:"]
    if let credentials { arguments += ["--cert", credentials.certificate, "--key", credentials.key] }
    if let contentType { arguments += ["-H", "Content-Type: \(contentType)"] }
    for header in headers { arguments += ["-H", header] }
    if let body {
        try body.write(toFile: "\(dir)/request", atomically: true, encoding: .utf8)
        arguments += ["--data-binary", "@\(dir)/request"]
    }
    let result = try await run("/usr/bin/curl", arguments + [server.url + path])
    let status = Int(result.output.suffix(3)) ?? 0
    let headerText = (try? String(contentsOfFile: "\(dir)/headers", encoding: .utf8)) ?? ""
    // The last header block (after any 1xx).
    let block = headerText.components(separatedBy: "\r\n\r\n").filter { !$0.isEmpty }.last ?? ""
    var parsed: [String: String] = [:]
    for line in block.split(separator: "\r\n").dropFirst() {
        guard let colon = line.firstIndex(of: ":") else { continue }
        parsed[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    let text = (try? String(contentsOfFile: "\(dir)/body", encoding: .utf8)) ?? ""
    return APIResponse(status: status, headers: parsed, body: text)
}

/// `POST /v1/access/check` with the given fields.
func check(_ server: TollgateProcess, as credentials: ConverterCredentials?, _ destination: String, _ proto: String? = nil,
           _ port: Int? = nil, extra: String = "") async throws -> APIResponse {
    var fields = ["\"destination\":\"\(destination)\""]
    if let proto { fields.append("\"protocol\":\"\(proto)\"") }
    if let port { fields.append("\"port\":\(port)") }
    if !extra.isEmpty { fields.append(extra) }
    return try await callAPI(server, "/v1/access/check", method: "POST", as: credentials, body: "{\(fields.joined(separator: ","))}")
}

/// Polls `condition` every few milliseconds until it holds or `seconds` pass; returns
/// the seconds it took, or nil on timeout.
func waitUntil(seconds: Double, _ condition: () async throws -> Bool) async rethrows -> Double? {
    let start = ContinuousClock.now
    while (ContinuousClock.now - start) < .milliseconds(Int(seconds * 1000)) {
        if try await condition() { return (ContinuousClock.now - start) / .seconds(1) }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return nil
}

/// The `tollgate serve` of the access suites: demo directory, history written every
/// second, conv-a (tenant 1001) and conv-c (tenant 1002) enrolled, and overlapping
/// destinations added to tenant 1001.
actor SharedAccessServer {
    static let shared = SharedAccessServer()
    private var instance: Task<(TollgateProcess, ConverterCredentials, ConverterCredentials), any Error>?

    static func get() async throws -> (server: TollgateProcess, convA: ConverterCredentials, convC: ConverterCredentials) {
        try await shared.get()
    }

    func get() async throws -> (TollgateProcess, ConverterCredentials, ConverterCredentials) {
        if let instance { return try await instance.value }
        let task = Task { () async throws -> (TollgateProcess, ConverterCredentials, ConverterCredentials) in
            let server = try await SharedTollgate.start(["--demo", "--access-history-seconds", "1"])
            let store = DirectoryStore(client: server.store)
            for destination in try Self.extraDestinations() { try await store.addDestination(destination) }
            let convA = try await enrolConverter(server, org: "1001", converter: "conv-a", signature: "demo-signature-1001")
            let convC = try await enrolConverter(server, org: "1002", converter: "conv-c", signature: "demo-signature-1002")
            // The replica has the added destinations once the /32 host rule answers.
            let synced = try await waitUntil(seconds: 10) {
                try await check(server, as: convA, "10.60.5.8", "tcp", 22).bool("allow") == true
            }
            try #require(synced != nil, "the access replica did not pick up the added destinations")
            return (server, convA, convC)
        }
        instance = task
        return try await task.value
    }

    static let extraDestinationCount = 7

    /// Overlapping prefixes (IPv4 and IPv6), deny rules, a not-yet-valid entry.
    static func extraDestinations() throws -> [Destination] {
        func net(_ text: String) throws -> IPNetwork { try IPNetwork(parsing: text) }
        return [
            Destination(name: "ovl-16-any", orgNumber: "1001", network: try net("10.60.0.0/16")),
            Destination(name: "ovl-24-tcp", orgNumber: "1001", network: try net("10.60.5.0/24"), protocol: "tcp"),
            Destination(name: "ovl-24-deny-ssh", orgNumber: "1001", network: try net("10.60.5.0/24"), protocol: "tcp",
                        ports: [try PortRange(parsing: "22")], action: "deny"),
            Destination(name: "ovl-32-ssh", orgNumber: "1001", network: try net("10.60.5.8/32"), protocol: "tcp",
                        ports: [try PortRange(parsing: "22")]),
            Destination(name: "future", orgNumber: "1001", network: try net("10.61.0.0/16"),
                        notBefore: try GeneralizedTime.parse("2099-01-01", field: "t")),
            Destination(name: "v6-48", orgNumber: "1001", network: try net("2001:db8:2::/48")),
            Destination(name: "v6-64-deny", orgNumber: "1001", network: try net("2001:db8:2:1::/64"), action: "deny"),
        ]
    }
}
