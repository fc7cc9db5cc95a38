import CertificateAuthority
import Foundation
import Testing
import X509

@Suite("CRL")
struct CRLTests {
    @Test func crlVerifiesAndListsRevokedSerials() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let ca = try CertificateAuthority(directory: scratch.pki)
        let files = try writeCAFiles(ca, to: scratch)
        let revoked = try ca.issue(csr: try makeECDSACSR().csr, subject: convA, profile: crlProfile)
        let other = try ca.issue(csr: try makeECDSACSR().csr, subject: convA, profile: crlProfile)
        let good = try ca.issue(csr: try makeECDSACSR().csr, subject: convA, profile: crlProfile)
        let now = Date()
        let crl = try ca.makeCRL(
            revoked: [
                RevokedCertificate(serialHex: revoked.serialHex, revocationDate: now, reason: .keyCompromise),
                RevokedCertificate(serialNumber: other.certificate.serialNumber, revocationDate: now),
            ],
            crlNumber: 42,
            thisUpdate: now,
            nextUpdate: now.addingTimeInterval(86400)
        )
        let crlPath = try scratch.write("crl.der", crl)
        let result = try openssl("crl", "-inform", "DER", "-in", crlPath, "-CAfile", files.chain, "-noout", "-text")
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("verify OK"))
        #expect(result.output.contains("Version 2 (0x1)"))
        #expect(result.output.contains("Signature Algorithm: ecdsa-with-SHA256"))
        #expect(result.output.contains("Issuer: O = Tollgate, CN = Tollgate Issuing CA"))
        #expect(result.output.contains("X509v3 CRL Number: \n                42"))
        #expect(result.output.contains("X509v3 Authority Key Identifier"))
        #expect(result.output.contains("Serial Number: " + revoked.serialHex.uppercased()))
        #expect(result.output.contains("Serial Number: " + other.serialHex.uppercased()))
        #expect(result.output.contains("Key Compromise"))
        #expect(result.output.components(separatedBy: "X509v3 CRL Reason Code").count == 2)

        // openssl verify with CRL checking: revoked vs. good leaf.
        let crlPEM = try openssl("crl", "-inform", "DER", "-in", crlPath, "-out", scratch.path("crl.pem"))
        #expect(crlPEM.status == 0)
        let revokedPath = try scratch.write("revoked.pem", revoked.pemEncoded)
        let goodPath = try scratch.write("good.pem", good.pemEncoded)
        let check = { (leaf: String) in
            try openssl(
                "verify", "-crl_check", "-CAfile", files.root, "-untrusted", files.issuing,
                "-CRLfile", scratch.path("crl.pem"), leaf
            )
        }
        let revokedResult = try check(revokedPath)
        #expect(revokedResult.status != 0)
        #expect(revokedResult.output.contains("certificate revoked"))
        let goodResult = try check(goodPath)
        #expect(goodResult.status == 0, "\(goodResult.output)")
    }

    @Test func emptyCRLOmitsRevokedList() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let ca = try CertificateAuthority(directory: scratch.pki)
        let files = try writeCAFiles(ca, to: scratch)
        let crl = try ca.makeCRL(revoked: [], crlNumber: 1)
        let crlPath = try scratch.write("crl.der", crl)
        let result = try openssl("crl", "-inform", "DER", "-in", crlPath, "-CAfile", files.chain, "-noout", "-text")
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("verify OK"))
        #expect(result.output.contains("No Revoked Certificates."))
    }

    @Test func usesGeneralizedTimeFrom2050() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let ca = try CertificateAuthority(directory: scratch.pki)
        let files = try writeCAFiles(ca, to: scratch)
        let now = Date()
        let later = try #require(ISO8601DateFormatter().date(from: "2051-01-01T00:00:00Z"))
        let crl = try ca.makeCRL(revoked: [], crlNumber: 2, thisUpdate: now, nextUpdate: later)
        let crlPath = try scratch.write("crl.der", crl)
        let result = try openssl("crl", "-inform", "DER", "-in", crlPath, "-CAfile", files.chain, "-noout", "-text")
        #expect(result.output.contains("verify OK"))
        #expect(result.output.contains("Next Update: Jan  1 00:00:00 2051 GMT"))
        let parsed = try openssl("asn1parse", "-inform", "DER", "-in", crlPath)
        #expect(parsed.output.contains("GENERALIZEDTIME"))
        #expect(parsed.output.contains("UTCTIME"))
    }

    @Test func rejectsBadInputs() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let ca = try CertificateAuthority(directory: scratch.pki)
        let now = Date()
        #expect(throws: CRLError.nextUpdateNotAfterThisUpdate(thisUpdate: now, nextUpdate: now)) {
            _ = try ca.makeCRL(revoked: [], crlNumber: 1, thisUpdate: now, nextUpdate: now)
        }
        #expect(throws: CRLError.invalidSerial("xyz")) {
            _ = try RevokedCertificate(serialHex: "xyz", revocationDate: now)
        }
    }

    @Test(.enabled(if: hasStrongSwanPKI)) func strongSwanAcceptsCRL() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let ca = try CertificateAuthority(directory: scratch.pki)
        let files = try writeCAFiles(ca, to: scratch)
        let revoked = try ca.issue(csr: try makeECDSACSR().csr, subject: convA, profile: crlProfile)
        let good = try ca.issue(csr: try makeECDSACSR().csr, subject: convA, profile: crlProfile)
        let crl = try ca.makeCRL(
            revoked: [RevokedCertificate(serialHex: revoked.serialHex, revocationDate: Date(), reason: .superseded)],
            crlNumber: 7
        )
        let crlPath = try scratch.write("crl.der", crl)
        let printed = try runTool("pki", ["--print", "--type", "crl", "--in", crlPath])
        #expect(printed.status == 0, "\(printed.output)")
        #expect(printed.output.contains("serial:    07"))
        #expect(printed.output.contains("1 revoked certificate"))
        #expect(printed.output.contains("superseded"))

        let verifyArgs = { (leaf: String) in
            ["--verify", "--in", leaf, "--cacert", files.root, "--cacert", files.issuing, "--crl", crlPath]
        }
        let goodResult = try runTool("pki", verifyArgs(try scratch.write("good.pem", good.pemEncoded)))
        #expect(goodResult.status == 0, "\(goodResult.output)")
        #expect(goodResult.output.contains("crl correctly signed"))
        #expect(goodResult.output.contains("certificate status is good"))
        let revokedResult = try runTool("pki", verifyArgs(try scratch.write("revoked.pem", revoked.pemEncoded)))
        #expect(revokedResult.status != 0, "\(revokedResult.output)")
        #expect(revokedResult.output.contains("reason: superseded"))
    }
}
