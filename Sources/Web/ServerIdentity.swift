import CertificateAuthority
import Crypto
import Foundation
import NIOSSL
import SwiftASN1
import X509

/// The HTTPS server's own certificate: a fresh P-256 key and a certificate from Tollgate's
/// issuing CA with the configured DNS names and IP addresses as SANs, made at start.
public struct ServerIdentity: Sendable {
    public let certificate: Certificate
    public let privateKeyPEM: String

    /// Issues the server certificate. `dnsNames`/`ipAddresses` become SANs (clients such as
    /// `pki --est` check the URL host against them).
    public init(authority: CertificateAuthority, dnsNames: [String], ipAddresses: [String]) throws {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName { CommonName("tollgate") }
        let csr = try CertificateSigningRequest(version: .v1, subject: subject, privateKey: Certificate.PrivateKey(key),
                                                attributes: CertificateSigningRequest.Attributes(), signatureAlgorithm: .ecdsaWithSHA256)
        let issued = try authority.issue(csr: csr, subject: LeafSubject(commonName: "tollgate", organization: "Tollgate",
                                                                       dnsNames: dnsNames, ipAddresses: ipAddresses))
        certificate = issued.certificate
        privateKeyPEM = key.pemRepresentation
    }

    /// TLS 1.2 and 1.3; client certificates optional and, when sent, verified against
    /// Tollgate's CA (EST re-enrolment and the converter API use them).
    public func tlsConfiguration(authority: CertificateAuthority) throws -> TLSConfiguration {
        let leaf = try NIOSSLCertificate(bytes: try certificate.serializeAsDER(), format: .der)
        let issuing = try NIOSSLCertificate(bytes: authority.issuingCertificateDER, format: .der)
        let root = try NIOSSLCertificate(bytes: authority.rootCertificateDER, format: .der)
        let key = try NIOSSLPrivateKey(bytes: Array(privateKeyPEM.utf8), format: .pem)
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: [.certificate(leaf), .certificate(issuing)],
                                                           privateKey: .privateKey(key))
        tls.minimumTLSVersion = .tlsv12
        tls.certificateVerification = .optionalVerification
        tls.trustRoots = .certificates([root, issuing])
        return tls
    }
}

extension Certificate {
    func serializeAsDER() throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.serialize(self)
        return serializer.serializedBytes
    }
}
