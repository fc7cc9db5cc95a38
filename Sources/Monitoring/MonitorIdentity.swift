import CertificateAuthority
import Crypto
import Foundation
import NIOSSL
import SwiftASN1
import X509

/// The monitor's TLS client identity: a fresh P-256 key and a certificate
/// `CN=tollgate-monitor, O=Tollgate` from Tollgate's issuing CA, made at every
/// `tollgate serve` start (like the server certificate of `ServerIdentity`). Agents
/// require exactly this subject as client certificate on their status API.
public struct MonitorIdentity: Sendable {
    public static let commonName = "tollgate-monitor"
    public static let organization = "Tollgate"

    public let certificate: Certificate
    public let privateKeyPEM: String
    /// Trust anchors for agents' server certificates: Tollgate's root and issuing CA.
    public let trustRootsDER: [[UInt8]]
    public let issuingDER: [UInt8]

    /// Issues the client certificate from `authority`.
    public init(authority: CertificateAuthority) throws {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName { CommonName(Self.commonName) }
        let csr = try CertificateSigningRequest(version: .v1, subject: subject, privateKey: Certificate.PrivateKey(key),
                                                attributes: CertificateSigningRequest.Attributes(), signatureAlgorithm: .ecdsaWithSHA256)
        let issued = try authority.issue(csr: csr, subject: LeafSubject(commonName: Self.commonName, organization: Self.organization))
        certificate = issued.certificate
        privateKeyPEM = key.pemRepresentation
        trustRootsDER = [authority.rootCertificateDER, authority.issuingCertificateDER]
        issuingDER = authority.issuingCertificateDER
    }

    /// TLS client configuration: this certificate (with the issuing CA) as client
    /// certificate; agents' certificates verified against Tollgate's CA without a
    /// hostname check (``AgentConnection`` checks that the certificate names the
    /// converter instead).
    public func tlsConfiguration() throws -> TLSConfiguration {
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        let leaf = try NIOSSLCertificate(bytes: serializer.serializedBytes, format: .der)
        let issuing = try NIOSSLCertificate(bytes: issuingDER, format: .der)
        let key = try NIOSSLPrivateKey(bytes: Array(privateKeyPEM.utf8), format: .pem)
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        tls.certificateVerification = .noHostnameVerification
        tls.trustRoots = .certificates(try trustRootsDER.map { try NIOSSLCertificate(bytes: $0, format: .der) })
        tls.certificateChain = [.certificate(leaf), .certificate(issuing)]
        tls.privateKey = .privateKey(key)
        tls.shutdownTimeout = .milliseconds(500)
        return tls
    }
}
