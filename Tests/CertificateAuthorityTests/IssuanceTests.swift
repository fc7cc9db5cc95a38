import CertificateAuthority
import Crypto
import Foundation
import Testing
import X509

@Suite("Issuance from CSRs")
struct IssuanceTests {
    @Test func issuedCertificateVerifiesAndUsesDirectorySubject() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let ca = try CertificateAuthority(directory: scratch.pki)
        let files = try writeCAFiles(ca, to: scratch)
        let request = try makeECDSACSR(commonName: "evil", dnsName: "evil.example")
        let now = Date()
        let issued = try ca.issue(csrBytes: request.der, subject: convA, profile: crlProfile, now: now)
        let leaf = try scratch.write("leaf.pem", issued.pemEncoded)

        let verify = try openssl("verify", "-CAfile", files.root, "-untrusted", files.issuing, leaf)
        #expect(verify.status == 0, "\(verify.output)")
        #expect(verify.output.contains("OK"))

        let text = try openssl("x509", "-in", leaf, "-noout", "-text", "-nameopt", "RFC2253").output
        #expect(text.contains("Subject: CN=conv-a,OU=1001,O=Tollgate converters"))
        #expect(text.contains("Issuer: CN=Tollgate Issuing CA,O=Tollgate"))
        #expect(!text.contains("evil"))
        #expect(text.contains("DNS:conv-a.example, IP Address:192.0.2.10, IP Address:2001:DB8:0:0:0:0:0:1"))
        #expect(text.contains("TLS Web Server Authentication, TLS Web Client Authentication, ipsec Internet Key Exchange"))
        #expect(text.contains("CA:FALSE"))
        #expect(text.contains("Digital Signature"))
        #expect(!text.contains("Key Encipherment"))
        #expect(text.contains("X509v3 Subject Key Identifier"))
        #expect(text.contains("X509v3 Authority Key Identifier"))
        #expect(text.contains("Signature Algorithm: ecdsa-with-SHA256"))
        #expect(text.contains("X509v3 CRL Distribution Points"))
        let ldapRange = try #require(text.range(of: "URI:" + ldapCRL))
        let httpRange = try #require(text.range(of: "URI:" + httpCRL))
        #expect(ldapRange.lowerBound < httpRange.lowerBound)

        // Serial: 16 bytes, positive, lowercase hex accessor matching openssl.
        #expect(issued.serialHex.count == 32)
        #expect(issued.serialHex == issued.serialHex.lowercased())
        let serial = try openssl("x509", "-in", leaf, "-noout", "-serial").output
        #expect(serial.trimmingCharacters(in: .whitespacesAndNewlines) == "serial=" + issued.serialHex.uppercased())

        // Validity: 365 days from now, backdated 5 minutes.
        let start = issued.certificate.notValidBefore.timeIntervalSince(now)
        let end = issued.certificate.notValidAfter.timeIntervalSince(now)
        #expect(abs(start + 300) < 1.5)
        #expect(abs(end - 365 * 86400) < 1.5)

        let points = try CRLDistributionPoints(try #require(issued.certificate.extensions[oid: [2, 5, 29, 31]]))
        #expect(points.uris == [ldapCRL, httpCRL])
        #expect(issued.keyKind == .p256)
        #expect(try Certificate(derEncoded: issued.derEncoded) == issued.certificate)
    }

    @Test func acceptsOpenSSLRSA2048CSR() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let ca = try CertificateAuthority(directory: scratch.pki)
        let files = try writeCAFiles(ca, to: scratch)
        let pem = try makeOpenSSLCSR(in: scratch, newkey: ["-newkey", "rsa:2048"])
        let issued = try ca.issue(csrBytes: Array(pem.utf8), subject: convA, profile: crlProfile)
        #expect(issued.keyKind == .rsa(bits: 2048))
        let leaf = try scratch.write("leaf.pem", issued.pemEncoded)
        let verify = try openssl("verify", "-CAfile", files.root, "-untrusted", files.issuing, leaf)
        #expect(verify.status == 0, "\(verify.output)")
        let text = try openssl("x509", "-in", leaf, "-noout", "-text").output
        #expect(text.contains("Digital Signature, Key Encipherment"))
        #expect(text.contains("Public-Key: (2048 bit)"))
    }

    @Test(arguments: [
        (["-newkey", "ed25519"], SubjectKeyKind.ed25519),
        (["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"], SubjectKeyKind.p384),
        (["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-521"], SubjectKeyKind.p521),
        (["-newkey", "rsa:4096"], SubjectKeyKind.rsa(bits: 4096)),
    ])
    func acceptsOtherKeyTypes(newkey: [String], kind: SubjectKeyKind) throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let ca = try CertificateAuthority(directory: scratch.pki)
        let files = try writeCAFiles(ca, to: scratch)
        let pem = try makeOpenSSLCSR(in: scratch, newkey: newkey)
        let issued = try ca.issue(csrBytes: Array(pem.utf8), subject: convA)
        #expect(issued.keyKind == kind)
        let leaf = try scratch.write("leaf.pem", issued.pemEncoded)
        let verify = try openssl("verify", "-CAfile", files.root, "-untrusted", files.issuing, leaf)
        #expect(verify.status == 0, "\(verify.output)")
    }

    @Test func reissueKeepsSubjectAndNamesWithNewKey() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let ca = try CertificateAuthority(directory: scratch.pki)
        let first = try ca.issue(csr: try makeECDSACSR().csr, subject: convA, profile: crlProfile)
        let renewalCSR = try makeECDSACSR(commonName: "other", dnsName: "other.example").csr
        let second = try ca.reissue(csr: renewalCSR, replacing: first.certificate, profile: crlProfile)
        #expect(second.certificate.subject == first.certificate.subject)
        #expect(
            try second.certificate.extensions.subjectAlternativeNames
                == first.certificate.extensions.subjectAlternativeNames
        )
        #expect(second.certificate.publicKey == renewalCSR.publicKey)
        #expect(second.certificate.publicKey != first.certificate.publicKey)
        #expect(second.serialHex != first.serialHex)
    }

    @Test func reissueRejectsForeignCertificate() throws {
        let scratch = try ScratchDirectory()
        let other = try ScratchDirectory()
        defer {
            scratch.cleanUp()
            other.cleanUp()
        }
        let ca = try CertificateAuthority(directory: scratch.pki)
        let otherCA = try CertificateAuthority(directory: other.pki)
        let foreign = try otherCA.issue(csr: try makeECDSACSR().csr, subject: convA)
        #expect(throws: IssuanceError.notIssuedByThisCA(serialHex: foreign.serialHex)) {
            _ = try ca.reissue(csr: try makeECDSACSR().csr, replacing: foreign.certificate)
        }
    }

    @Test func rejectsInvalidSubjectInputs() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let ca = try CertificateAuthority(directory: scratch.pki)
        let csr = try makeECDSACSR().csr
        #expect(throws: IssuanceError.invalidIPAddress("999.1.1.1")) {
            _ = try ca.issue(csr: csr, subject: LeafSubject(commonName: "c", ipAddresses: ["999.1.1.1"]))
        }
        #expect(throws: IssuanceError.invalidDNSName("bad name")) {
            _ = try ca.issue(csr: csr, subject: LeafSubject(commonName: "c", dnsNames: ["bad name"]))
        }
        #expect(throws: IssuanceError.invalidCommonName("")) {
            _ = try ca.issue(csr: csr, subject: LeafSubject(commonName: ""))
        }
    }

    @Test func clampsValidityToIssuingCA() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let ca = try CertificateAuthority(directory: scratch.pki)
        let issued = try ca.issue(
            csr: try makeECDSACSR().csr,
            subject: convA,
            profile: LeafProfile(validity: 50 * 365 * 86400)
        )
        #expect(issued.certificate.notValidAfter == ca.issuingCertificate.notValidAfter)
    }
}
