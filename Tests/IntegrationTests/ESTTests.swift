import Directory
import Foundation
import LDAPClient
import ManagedSlapd
import TestSupport
import Testing

/// EST enrolment as strongSwan's `pki --est`/`--estca` does it, against `tollgate serve`.
@Suite("EST enrolment with strongSwan's pki", .serialized)
struct ESTTests {
    let pki = "/usr/bin/pki"

    func work() -> String { temporaryDirectory("est") }

    /// A fresh ECDSA key and a CSR for `cn`, made by strongSwan's pki.
    func makeCSR(_ dir: String, _ cn: String) async throws -> (key: String, csr: String) {
        let key = "\(dir)/\(cn).key", csr = "\(dir)/\(cn).csr"
        #expect(try await run("/bin/sh", ["-c", "\(pki) --gen --type ecdsa --size 256 > \(key)"]).status == 0)
        #expect(try await run("/bin/sh", ["-c", "\(pki) --req --in \(key) --type ecdsa --dn 'CN=\(cn)' > \(csr)"]).status == 0)
        return (key, csr)
    }

    /// POSTs a body to an EST path with curl; returns (status, headers+body).
    func post(_ server: TollgateProcess, _ path: String, body: String, user: String? = nil, extra: [String] = []) async throws -> (Int, String) {
        let bodyFile = temporaryDirectory("body") + "/body"
        try body.write(toFile: bodyFile, atomically: true, encoding: .utf8)
        var args = ["-s", "-i", "-m", "10", "--cacert", server.rootCA, "-H", "Content-Type: application/pkcs10",
                    "--data-binary", "@\(bodyFile)", "\(server.url)\(path)"] + extra
        if let user { args += ["-u", user] }
        let result = try await run("/usr/bin/curl", args)
        let status = result.output.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return (status, result.output)
    }

    func base64DER(ofCSR path: String) throws -> String {
        try Data(contentsOf: URL(fileURLWithPath: path)).base64EncodedString()
    }

    func serials(_ server: TollgateProcess, org: String, converter: String) async throws -> [String] {
        let store = DirectoryStore(client: server.store)
        return try await store.converter(orgNumber: org, name: converter)?.certificateSerials ?? []
    }

    @Test("pki --estca fetches the chain: a self-signed root and the issuing CA")
    func cacerts() async throws {
        let server = try await SharedTollgate.get()
        let dir = work()
        let result = try await run(pki, ["--estca", "--url", server.url, "--cacert", server.rootCA, "--caout", "\(dir)/ca.pem"])
        #expect(result.status == 0, "\(result.output)")
        let root = try await run("/usr/bin/openssl", ["x509", "-in", "\(dir)/ca.pem", "-noout", "-subject", "-issuer"])
        #expect(root.output.contains("subject=O = Tollgate, CN = Tollgate Root CA"))
        #expect(root.output.contains("issuer=O = Tollgate, CN = Tollgate Root CA"), "self-signed")
        let sub = try await run("/usr/bin/openssl", ["x509", "-in", "\(dir)/ca-1.pem", "-noout", "-subject"])
        #expect(sub.output.contains("Tollgate Issuing CA"))
        // The label form answers the same, over TLS 1.3 (curl) as well as 1.2 (pki).
        let labelled = try await run("/usr/bin/curl", ["-s", "--tlsv1.3", "--cacert", server.rootCA, "\(server.url)/.well-known/est/fleet-a/cacerts"])
        let plain = try await run("/usr/bin/curl", ["-s", "--tlsv1.2", "--tls-max", "1.2", "--cacert", server.rootCA, "\(server.url)/.well-known/est/cacerts"])
        #expect(!labelled.output.isEmpty && labelled.output == plain.output)
        #expect(!labelled.output.contains("\n"), "single-line base64")
        // Both CA certificates are published on the CA entry, readable anonymously.
        let anonymous = LDAPClient(url: server.slapd.ldapURL)
        let ca = try #require(try await anonymous.read("cn=ca,ou=pki,dc=tollgate"))
        #expect(ca.values("cACertificate;binary").count == 2)
        await anonymous.close()
    }

    @Test("pki --est --userpass enrols conv-a of 1001; the certificate verifies and is published in LDAP")
    func enrol() async throws {
        let server = try await SharedTollgate.get()
        let dir = work()
        let (_, csr) = try await makeCSR(dir, "conv-a")
        let before = try await serials(server, org: "1001", converter: "conv-a")
        let result = try await run(pki, ["--est", "--url", server.url, "--in", csr, "--cacert", server.rootCA, "--cacert", server.issuingCA,
                                         "--userpass", "1001-01:demo-signature-1001", "--outform", "pem"])
        #expect(result.status == 0, "\(result.output)")
        let cert = "\(dir)/conv-a.pem"
        // pki writes the certificate to stdout; our runner merges stderr, so cut the PEM out.
        let pem = try #require(Self.pemBlock(result.output))
        try pem.write(toFile: cert, atomically: true, encoding: .utf8)
        let verify = try await run("/usr/bin/openssl", ["verify", "-CAfile", server.rootCA, "-untrusted", server.issuingCA, cert])
        #expect(verify.output.contains("\(cert): OK"), "\(verify.output)")
        let text = try await run("/usr/bin/openssl", ["x509", "-in", cert, "-noout", "-text"])
        #expect(text.output.contains("Subject: O = Tollgate converters, OU = 1001, CN = conv-a"))
        #expect(text.output.contains("IP Address:192.0.2.10"), "SAN from the directory (conv-a's ipHostNumber)")
        #expect(text.output.contains("ipsec Internet Key Exchange"))
        #expect(text.output.contains("URI:ldap://"), "ldap:// CRL distribution point")
        let after = try await serials(server, org: "1001", converter: "conv-a")
        #expect(after.count == before.count + 1)
        // The DER on the converter entry is the certificate pki received.
        let entry = try #require(try await server.store.read(DirectoryLayout().converter("1001", "conv-a")))
        let der = try await run("/usr/bin/openssl", ["x509", "-in", cert, "-outform", "DER", "-out", "\(dir)/conv-a.der"])
        #expect(der.status == 0)
        #expect(entry.values("userCertificate;binary").first == (try Data(contentsOf: URL(fileURLWithPath: "\(dir)/conv-a.der"))))
        #expect(entry["tgState"] == "certified")
        let history = try await server.admin(["history", "--org", "1001", "--json"])
        #expect(history.output.contains("certificate.issued"))
    }

    @Test("wrong signature: 401 with WWW-Authenticate, and pki fails")
    func wrongSignature() async throws {
        let server = try await SharedTollgate.get()
        let dir = work()
        let (_, csr) = try await makeCSR(dir, "conv-b")
        let (status, response) = try await post(server, "/.well-known/est/simpleenroll", body: try base64DER(ofCSR: csr),
                                                user: "1001-01:not-the-signature")
        #expect(status == 401)
        #expect(response.lowercased().contains("www-authenticate: basic"))
        let result = try await run(pki, ["--est", "--url", server.url, "--in", csr, "--cacert", server.rootCA,
                                         "--userpass", "1001-01:not-the-signature"])
        #expect(result.status != 0)
        #expect(try await serials(server, org: "1001", converter: "conv-b").isEmpty, "nothing issued")
    }

    @Test("a CSR naming another tenant's converter is refused (403)")
    func otherTenantsConverter() async throws {
        let server = try await SharedTollgate.get()
        let dir = work()
        let (_, csr) = try await makeCSR(dir, "conv-c")  // conv-c belongs to 1002
        let (status, response) = try await post(server, "/.well-known/est/simpleenroll", body: try base64DER(ofCSR: csr),
                                                user: "1001-01:demo-signature-1001")
        #expect(status == 403)
        #expect(response.contains("no converter \"conv-c\" is registered to subscriber 1001-01"))
        #expect(try await serials(server, org: "1002", converter: "conv-c").isEmpty)
    }

    @Test("a subscriber under review gets 202 with Retry-After")
    func pendingSubscriber() async throws {
        let server = try await SharedTollgate.get()
        let org = uniqueOrgNumber()
        #expect(try await server.admin(["subscriber", "add", "--org", org, "--id", "\(org)-01", "--name", "Pending Org",
                                        "--mail", "p@test.example", "--state", "pending", "--signature", "pending-signature-1"]).status == 0)
        #expect(try await server.admin(["converter", "add", "--org", org, "--name", "gw", "--address", "192.0.2.50"]).status == 0)
        let dir = work()
        let (_, csr) = try await makeCSR(dir, "gw")
        let (status, response) = try await post(server, "/.well-known/est/simpleenroll", body: try base64DER(ofCSR: csr),
                                                user: "\(org)-01:pending-signature-1")
        #expect(status == 202)
        #expect(response.lowercased().contains("retry-after: 42"))
    }

    @Test("re-enrolment with --cert/--key keeps the subject and issues a new serial")
    func reenrol() async throws {
        let server = try await SharedTollgate.get()
        let dir = work()
        let (key, csr) = try await makeCSR(dir, "conv-b")
        let first = try await run(pki, ["--est", "--url", server.url, "--in", csr, "--cacert", server.rootCA, "--cacert", server.issuingCA,
                                        "--userpass", "1001-01:demo-signature-1001", "--outform", "pem"])
        #expect(first.status == 0, "\(first.output)")
        try #require(Self.pemBlock(first.output)).write(toFile: "\(dir)/old.pem", atomically: true, encoding: .utf8)
        let (_, newCSR) = try await makeCSR(dir, "conv-b-renewed")  // a new key; the CN asked for is ignored
        let second = try await run(pki, ["--est", "--url", server.url, "--in", newCSR, "--cacert", server.rootCA, "--cacert", server.issuingCA,
                                         "--cert", "\(dir)/old.pem", "--key", key, "--outform", "pem"])
        #expect(second.status == 0, "\(second.output)")
        try #require(Self.pemBlock(second.output)).write(toFile: "\(dir)/new.pem", atomically: true, encoding: .utf8)
        let old = try await run("/usr/bin/openssl", ["x509", "-in", "\(dir)/old.pem", "-noout", "-subject", "-serial", "-ext", "subjectAltName"])
        let new = try await run("/usr/bin/openssl", ["x509", "-in", "\(dir)/new.pem", "-noout", "-subject", "-serial", "-ext", "subjectAltName"])
        func line(_ s: String, _ prefix: String) -> String? { s.split(separator: "\n").first { $0.hasPrefix(prefix) }.map(String.init) }
        #expect(line(old.output, "subject=") == line(new.output, "subject="))
        #expect(line(new.output, "subject=")?.contains("CN = conv-b") == true)
        #expect(line(old.output, "serial=") != line(new.output, "serial="))
        #expect(new.output.contains("IP Address:192.0.2.11"))
        // Re-enrolment without a client certificate is refused.
        let (status, _) = try await post(server, "/.well-known/est/simplereenroll", body: try base64DER(ofCSR: newCSR))
        #expect(status == 401)
    }

    @Test("malformed, truncated, oversized and wrongly-signed CSRs get a clear 4xx and nothing is written")
    func badCSRs() async throws {
        let server = try await SharedTollgate.get()
        let dir = work()
        let (_, csr) = try await makeCSR(dir, "conv-a")
        let der = try Data(contentsOf: URL(fileURLWithPath: csr))
        var tampered = der
        tampered[tampered.count - 5] ^= 0x55  // inside the signature
        let cases: [(String, String, Int, String)] = [
            ("malformed", "this is not base64 !!!", 400, "bad request"),
            ("not DER", Data("hello world, no ASN.1 here".utf8).base64EncodedString(), 400, "bad request"),
            ("truncated", der.prefix(der.count / 2).base64EncodedString(), 400, "bad request"),
            ("wrongly signed", tampered.base64EncodedString(), 400, "signature"),
            ("oversized", String(repeating: "A", count: 200_000), 413, "larger than"),
        ]
        let before = try await serials(server, org: "1001", converter: "conv-a")
        let historyBefore = try await server.admin(["history", "--org", "1001", "--json"]).output
        for (name, body, expected, words) in cases {
            let (status, response) = try await post(server, "/.well-known/est/simpleenroll", body: body, user: "1001-01:demo-signature-1001")
            #expect(status == expected, "\(name): \(response)")
            #expect(response.lowercased().contains(words.lowercased()), "\(name): \(response)")
        }
        #expect(try await serials(server, org: "1001", converter: "conv-a") == before, "nothing issued")
        #expect(try await server.admin(["history", "--org", "1001", "--json"]).output == historyBefore, "nothing recorded")
    }

    @Test("revocation: the CRL on the CA entry (anonymous ldap://) and at /pki/crl lists the serial; re-enrolment is refused")
    func revocation() async throws {
        let server = try await SharedTollgate.get()
        let dir = work()
        let (key, csr) = try await makeCSR(dir, "conv-b")
        let enrolled = try await run(pki, ["--est", "--url", server.url, "--in", csr, "--cacert", server.rootCA, "--cacert", server.issuingCA,
                                           "--userpass", "1001-01:demo-signature-1001", "--outform", "pem"])
        try #require(Self.pemBlock(enrolled.output)).write(toFile: "\(dir)/cert.pem", atomically: true, encoding: .utf8)
        let serial = try await run("/usr/bin/openssl", ["x509", "-in", "\(dir)/cert.pem", "-noout", "-serial"]).output
            .split(separator: "=").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines).lowercased() } ?? ""
        let revoke = try await server.admin(["certificate", "revoke", "--serial", serial, "--reason", "keyCompromise"])
        #expect(revoke.status == 0, "\(revoke.output)")
        // Anonymous LDAP read of the CRL, as charon does it.
        let ldap = try await run("/usr/bin/ldapsearch", ["-LLL", "-o", "ldif-wrap=no", "-T", dir, "-x", "-H", server.slapd.ldapURL, "-b", "cn=ca,ou=pki,dc=tollgate",
                                                         "-s", "base", "-t", "certificateRevocationList;binary"])
        let file = try #require(ldap.output.split(separator: "\n").first { $0.contains("file://") }?.split(separator: "file://").last.map(String.init))
        let crl = try await run("/usr/bin/openssl", ["crl", "-inform", "DER", "-in", file, "-noout", "-text", "-CAfile", server.issuingCA])
        #expect(crl.output.uppercased().contains(serial.uppercased()), "\(crl.output)")
        #expect(crl.output.contains("Key Compromise"))
        #expect(crl.output.contains("verify OK"), "\(crl.output)")
        let http = try await run("/usr/bin/curl", ["-s", "-o", "\(dir)/http.crl", "-w", "%{http_code}", "--cacert", server.rootCA, "\(server.url)/pki/crl"])
        #expect(http.output == "200")
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/http.crl")) == Data(contentsOf: URL(fileURLWithPath: file)))
        // The revoked certificate cannot re-enrol.
        let (_, newCSR) = try await makeCSR(dir, "x")
        let again = try await run(pki, ["--est", "--url", server.url, "--in", newCSR, "--cacert", server.rootCA, "--cacert", server.issuingCA,
                                        "--cert", "\(dir)/cert.pem", "--key", key])
        #expect(again.status != 0)
        let (status, response) = try await post(server, "/.well-known/est/simplereenroll", body: try base64DER(ofCSR: newCSR),
                                                extra: ["--cert", "\(dir)/cert.pem", "--key", key, "--key-type", "DER"])
        #expect(status == 403, "\(response)")
        #expect(response.contains("revoked"))
    }

    @Test("removing a converter revokes its certificates; the server publishes the new CRL")
    func removalRevokes() async throws {
        let server = try await SharedTollgate.get()
        let org = uniqueOrgNumber()
        #expect(try await server.admin(["subscriber", "add", "--org", org, "--id", "\(org)-01", "--name", "Leaving Org",
                                        "--mail", "l@test.example", "--signature", "leaving-signature-1"]).status == 0)
        #expect(try await server.admin(["converter", "add", "--org", org, "--name", "gw", "--address", "192.0.2.77"]).status == 0)
        let dir = work()
        let (_, csr) = try await makeCSR(dir, "gw")
        let enrolled = try await run(pki, ["--est", "--url", server.url, "--in", csr, "--cacert", server.rootCA,
                                           "--cacert", server.issuingCA, "--userpass", "\(org)-01:leaving-signature-1"])
        #expect(enrolled.status == 0, "\(enrolled.output)")
        let serial = try #require(try await serials(server, org: org, converter: "gw").first)
        let store = DirectoryStore(client: server.store)
        let before = try await store.nextCRLNumber()
        #expect(try await server.admin(["converter", "remove", "--org", org, "--name", "gw"]).status == 0)
        #expect(try await store.isRevoked(serial: serial))
        #expect(try await store.revokedCertificates().first { $0.serial == serial }?.reason == "cessationOfOperation")
        #expect(try await store.nextCRLNumber() > before, "a new CRL was published")
    }

    @Test("certificate list --expiring shows certificates ending within the span")
    func expiring() async throws {
        let server = try await SharedTollgate.get()
        let soon = try await server.admin(["certificate", "list", "--org", "1001", "--expiring", "400d", "--json"])
        #expect(soon.status == 0, "\(soon.output)")
        #expect(soon.output.contains("\"converter\" : \"conv-a\"") || soon.output.contains("\"converter\" : \"conv-b\""))
        let none = try await server.admin(["certificate", "list", "--org", "1001", "--expiring", "1d", "--json"])
        #expect(none.output.trimmingCharacters(in: .whitespacesAndNewlines) == "[\n\n]" || none.output.trimmingCharacters(in: .whitespacesAndNewlines) == "[]")
    }

    static func pemBlock(_ text: String) -> String? {
        guard let start = text.range(of: "-----BEGIN CERTIFICATE-----"),
              let end = text.range(of: "-----END CERTIFICATE-----", range: start.upperBound..<text.endIndex) else { return nil }
        return String(text[start.lowerBound..<end.upperBound]) + "\n"
    }
}
