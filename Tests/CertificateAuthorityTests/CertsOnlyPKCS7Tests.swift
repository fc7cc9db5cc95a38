import CertificateAuthority
import Foundation
import Testing
import X509

@Suite("Certs-only PKCS#7")
struct CertsOnlyPKCS7Tests {
    @Test func opensslPrintsTheCertificates() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let ca = try CertificateAuthority(directory: scratch.pki)
        let der = try CertsOnlyPKCS7.encode([ca.issuingCertificate, ca.rootCertificate])
        let path = try scratch.write("cacerts.p7", der)
        let result = try openssl("pkcs7", "-inform", "DER", "-in", path, "-print_certs", "-noout")
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("subject=O = Tollgate, CN = Tollgate Root CA"))
        #expect(result.output.contains("subject=O = Tollgate, CN = Tollgate Issuing CA"))

        let structure = try openssl("asn1parse", "-inform", "DER", "-in", path).output
        #expect(structure.contains(":pkcs7-signedData"))
        #expect(structure.contains(":pkcs7-data"))

        let decoded = try CertsOnlyPKCS7.decode(der)
        #expect(Set(decoded) == [ca.issuingCertificate, ca.rootCertificate])
    }

    @Test func singleLeafAndEmpty() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let ca = try CertificateAuthority(directory: scratch.pki)
        let issued = try ca.issue(csr: try makeECDSACSR().csr, subject: convA)
        let der = try CertsOnlyPKCS7.encode([issued.certificate])
        let path = try scratch.write("leaf.p7", der)
        let result = try openssl("pkcs7", "-inform", "DER", "-in", path, "-print_certs", "-noout")
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("subject=O = Tollgate converters, OU = 1001, CN = conv-a"))
        #expect(try CertsOnlyPKCS7.decode(der) == [issued.certificate])
        #expect(try CertsOnlyPKCS7.decode(try CertsOnlyPKCS7.encode([])) == [])
    }

    @Test func decodeRejectsGarbage() {
        #expect(throws: PKCS7Error.self) { _ = try CertsOnlyPKCS7.decode([0x30, 0x03, 0x02, 0x01, 0x01]) }
    }
}
