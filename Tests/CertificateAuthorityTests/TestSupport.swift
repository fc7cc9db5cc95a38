import CertificateAuthority
import Crypto
import Foundation
import SwiftASN1
import Testing
import X509

/// Result of running an external tool.
struct ToolResult {
    var status: Int32
    var output: String
}

/// Runs `/usr/bin/env <tool> arguments…`, capturing stdout and stderr together.
func runTool(_ tool: String, _ arguments: [String], input: Data? = nil) throws -> ToolResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [tool] + arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    let stdin = Pipe()
    process.standardInput = stdin
    try process.run()
    if let input {
        stdin.fileHandleForWriting.write(input)
    }
    try stdin.fileHandleForWriting.close()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return ToolResult(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
}

func openssl(_ arguments: String...) throws -> ToolResult {
    try runTool("openssl", arguments)
}

/// Whether strongSwan's `pki` tool is installed.
let hasStrongSwanPKI: Bool = FileManager.default.isExecutableFile(atPath: "/usr/bin/pki")

/// A scratch directory removed by `cleanUp()`.
struct ScratchDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-ca-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    var pki: URL { url.appendingPathComponent("pki") }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        try Data(bytes).write(to: URL(fileURLWithPath: path(name)))
        return path(name)
    }

    func write(_ name: String, _ text: String) throws -> String {
        try write(name, Array(text.utf8))
    }

    func cleanUp() {
        try? FileManager.default.removeItem(at: url)
    }
}

/// A P-256 CSR made with swift-certificates that asks for a subject and SANs the CA must ignore.
func makeECDSACSR(commonName: String = "evil", dnsName: String = "evil.example") throws -> (
    csr: CertificateSigningRequest, der: [UInt8]
) {
    let key = P256.Signing.PrivateKey()
    let extensions = try Certificate.Extensions {
        SubjectAlternativeNames([.dnsName(dnsName)])
    }
    let csr = try CertificateSigningRequest(
        version: .v1,
        subject: try DistinguishedName { CommonName(commonName) },
        privateKey: Certificate.PrivateKey(key),
        attributes: CertificateSigningRequest.Attributes([
            try CertificateSigningRequest.Attribute(ExtensionRequest(extensions: extensions))
        ]),
        signatureAlgorithm: .ecdsaWithSHA256
    )
    var serializer = DER.Serializer()
    try serializer.serialize(csr)
    return (csr, serializer.serializedBytes)
}

/// A CSR made by `openssl req` with a new key (`rsa:2048`, `ed25519`, `ec -pkeyopt …`), as PEM text.
func makeOpenSSLCSR(in scratch: ScratchDirectory, newkey: [String], name: String = "req") throws -> String {
    let result = try runTool(
        "openssl",
        ["req", "-new"] + newkey + [
            "-nodes", "-subj", "/CN=x", "-keyout", scratch.path("\(name).key"), "-out", scratch.path("\(name).csr"),
        ]
    )
    #expect(result.status == 0, "openssl req failed: \(result.output)")
    return try String(contentsOfFile: scratch.path("\(name).csr"), encoding: .utf8)
}

/// The standard subject used by the tests.
let convA = LeafSubject(
    commonName: "conv-a",
    organizationalUnit: "1001",
    dnsNames: ["conv-a.example"],
    ipAddresses: ["192.0.2.10", "2001:db8::1"]
)

let ldapCRL = "ldap://127.0.0.1:3389/cn=ca,ou=pki,dc=tollgate?certificateRevocationList;binary"
let httpCRL = "http://127.0.0.1:8080/crl"
let crlProfile = LeafProfile(crlDistributionPoints: [ldapCRL, httpCRL])

/// Writes root, issuing and chain PEM files for openssl.
func writeCAFiles(_ ca: CertificateAuthority, to scratch: ScratchDirectory) throws -> (root: String, issuing: String, chain: String) {
    let root = try scratch.write("root.pem", try ca.rootCertificate.serializeAsPEM().pemString + "\n")
    let issuing = try scratch.write("issuing.pem", try ca.issuingCertificate.serializeAsPEM().pemString + "\n")
    let chain = try scratch.write("chain.pem", ca.chainPEM)
    return (root, issuing, chain)
}
