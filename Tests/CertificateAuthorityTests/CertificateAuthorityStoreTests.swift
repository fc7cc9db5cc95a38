import CertificateAuthority
import Foundation
import Testing
import X509

@Suite("CA creation and loading")
struct CertificateAuthorityStoreTests {
    private func mode(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return ((attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1) & 0o777
    }

    @Test func createsFilesWithPermissionsAndReloadsSameCertificates() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let created = try CertificateAuthority(directory: scratch.pki)
        let pki = scratch.pki.path
        #expect(try mode(pki) == 0o700)
        #expect(try mode(pki + "/root-ca.key") == 0o600)
        #expect(try mode(pki + "/issuing-ca.key") == 0o600)
        #expect(try mode(pki + "/root-ca.pem") == 0o644)
        #expect(try mode(pki + "/issuing-ca.pem") == 0o644)
        let keyPEM = try String(contentsOfFile: pki + "/issuing-ca.key", encoding: .utf8)
        #expect(keyPEM.hasPrefix("-----BEGIN PRIVATE KEY-----"))  // PKCS#8

        let loaded = try CertificateAuthority(directory: scratch.pki)
        #expect(loaded.rootCertificateDER == created.rootCertificateDER)
        #expect(loaded.issuingCertificateDER == created.issuingCertificateDER)
        #expect(loaded.rootCertificate == created.rootCertificate)
    }

    @Test func caCertificatesHaveTheProfile() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let ca = try CertificateAuthority(directory: scratch.pki)
        let files = try writeCAFiles(ca, to: scratch)

        let root = try openssl("x509", "-in", files.root, "-noout", "-text", "-nameopt", "RFC2253")
        #expect(root.output.contains("Subject: CN=Tollgate Root CA,O=Tollgate"))
        #expect(root.output.contains("Issuer: CN=Tollgate Root CA,O=Tollgate"))
        #expect(root.output.contains("CA:TRUE"))
        #expect(root.output.contains("Certificate Sign, CRL Sign"))
        #expect(root.output.contains("ASN1 OID: prime256v1"))
        #expect(root.output.contains("ecdsa-with-SHA256"))

        let issuing = try openssl("x509", "-in", files.issuing, "-noout", "-text", "-nameopt", "RFC2253")
        #expect(issuing.output.contains("Subject: CN=Tollgate Issuing CA,O=Tollgate"))
        #expect(issuing.output.contains("Issuer: CN=Tollgate Root CA,O=Tollgate"))
        #expect(issuing.output.contains("CA:TRUE, pathlen:0"))

        let years = { (certificate: Certificate) in
            certificate.notValidAfter.timeIntervalSince(certificate.notValidBefore) / (365.25 * 86400)
        }
        #expect(abs(years(ca.rootCertificate) - 20) < 0.01)
        #expect(abs(years(ca.issuingCertificate) - 10) < 0.01)

        let verify = try openssl("verify", "-CAfile", files.root, files.issuing)
        #expect(verify.status == 0, "\(verify.output)")
    }

    @Test func rejectsIncompleteStore() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        _ = try CertificateAuthority(directory: scratch.pki)
        try FileManager.default.removeItem(atPath: scratch.pki.path + "/issuing-ca.key")
        #expect(throws: CertificateAuthorityError.incompleteStore(directory: scratch.pki.path, missing: ["issuing-ca.key"])) {
            _ = try CertificateAuthority(directory: scratch.pki)
        }
    }

    @Test func rejectsWorldReadableKey() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        _ = try CertificateAuthority(directory: scratch.pki)
        let keyPath = scratch.pki.path + "/root-ca.key"
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: keyPath)
        #expect(throws: CertificateAuthorityError.insecureKeyPermissions(path: keyPath, mode: 0o644)) {
            _ = try CertificateAuthority(directory: scratch.pki)
        }
    }

    @Test func rejectsKeyOfAnotherCA() throws {
        let first = try ScratchDirectory()
        let second = try ScratchDirectory()
        defer {
            first.cleanUp()
            second.cleanUp()
        }
        _ = try CertificateAuthority(directory: first.pki)
        _ = try CertificateAuthority(directory: second.pki)
        let target = first.pki.path + "/issuing-ca.key"
        try FileManager.default.removeItem(atPath: target)
        try FileManager.default.copyItem(atPath: second.pki.path + "/issuing-ca.key", toPath: target)
        #expect(
            throws: CertificateAuthorityError.keyDoesNotMatchCertificate(
                keyPath: target,
                certificatePath: first.pki.path + "/issuing-ca.pem"
            )
        ) {
            _ = try CertificateAuthority(directory: first.pki)
        }
    }
}
