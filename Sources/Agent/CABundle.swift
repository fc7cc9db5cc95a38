import CertificateAuthority
import Crypto
import Foundation
import NIOSSL
import SwiftASN1
import X509

/// Tollgate's CA as the agent trusts it: the self-signed root and the issuing CA
/// (`ca.pem`, root first).
public struct CABundle: Sendable {
    public let root: Certificate
    public let issuing: [Certificate]

    /// Picks the self-signed root out of `certificates` (e.g. an EST `/cacerts` answer) and
    /// keeps the CA certificates it signed.
    public init(certificates: [Certificate]) throws(AgentError) {
        guard let root = certificates.first(where: { $0.subject == $0.issuer && $0.publicKey.isValidSignature($0.signature, for: $0) }) else {
            throw .trust("the CA certificates contain no self-signed root")
        }
        self.root = root
        self.issuing = certificates.filter {
            $0 != root && $0.issuer == root.subject && root.publicKey.isValidSignature($0.signature, for: $0)
        }
        guard !issuing.isEmpty else {
            throw .trust("the CA certificates contain no issuing CA signed by the root \(root.subject)")
        }
    }

    /// Reads PEM certificates from `file`.
    public static func certificates(pemFile file: String) throws(AgentError) -> [Certificate] {
        let text = try AgentDirectory.read(file)
        do {
            let documents = try PEMDocument.parseMultiple(pemString: text)
            let certificates = try documents.map { try Certificate(pemDocument: $0) }
            guard !certificates.isEmpty else { throw AgentError.localFiles("\(file) holds no PEM certificate") }
            return certificates
        } catch let error as AgentError {
            throw error
        } catch {
            throw .localFiles("\(file) is not a PEM certificate file: \(error)")
        }
    }

    /// `ca.pem` of an enrolled agent.
    public static func load(_ file: String) throws(AgentError) -> CABundle {
        try CABundle(certificates: certificates(pemFile: file))
    }

    /// Root first, then the issuing CA(s), as PEM.
    public func pem() throws(AgentError) -> String {
        try ([root] + issuing).map { certificate throws(AgentError) in try Self.pem(certificate) }.joined()
    }

    static func pem(_ certificate: Certificate) throws(AgentError) -> String {
        do {
            return try certificate.serializeAsPEM().pemString + "\n"
        } catch {
            throw .localFiles("cannot encode certificate \(certificate.subject): \(error)")
        }
    }

    /// SHA-256 of the root's DER, as colon-separated uppercase hex (like `openssl x509 -fingerprint -sha256`).
    public var rootFingerprint: String { Self.fingerprint(root) }

    public static func fingerprint(_ certificate: Certificate) -> String {
        var serializer = DER.Serializer()
        try? serializer.serialize(certificate)
        return SHA256.hash(data: serializer.serializedBytes).map { String(format: "%02X", $0) }.joined(separator: ":")
    }

    /// Normalises a fingerprint given by an operator (any case, with or without colons).
    public static func normalizedFingerprint(_ text: String) -> String {
        // `openssl x509 -fingerprint` prints "sha256 Fingerprint=AB:CD:…".
        let value = text.split(separator: "=").last.map(String.init) ?? text
        let hex = value.uppercased().filter { $0.isHexDigit }
        return stride(from: 0, to: hex.count, by: 2).map { offset -> String in
            let start = hex.index(hex.startIndex, offsetBy: offset)
            return String(hex[start..<hex.index(start, offsetBy: min(2, hex.count - offset))])
        }.joined(separator: ":")
    }

    /// TLS trust anchors: the root and the issuing CA.
    public func trustRoots() throws(AgentError) -> [NIOSSLCertificate] {
        try Self.nioCertificates([root] + issuing)
    }

    static func nioCertificates(_ certificates: [Certificate]) throws(AgentError) -> [NIOSSLCertificate] {
        do {
            return try certificates.map { certificate in
                var serializer = DER.Serializer()
                try serializer.serialize(certificate)
                return try NIOSSLCertificate(bytes: serializer.serializedBytes, format: .der)
            }
        } catch {
            throw .trust("cannot use the CA certificates for TLS: \(error)")
        }
    }

    /// Whether `certificate` was signed by one of the issuing CAs.
    public func issued(_ certificate: Certificate) -> Bool {
        issuing.contains { $0.subject == certificate.issuer && $0.publicKey.isValidSignature(certificate.signature, for: certificate) }
    }
}

/// Facts about the converter certificate the agent uses.
public struct AgentCertificate: Sendable {
    public let certificate: Certificate
    public let pem: String

    public init(_ certificate: Certificate) throws(AgentError) {
        self.certificate = certificate
        self.pem = try CABundle.pem(certificate)
    }

    public static func load(_ file: String) throws(AgentError) -> AgentCertificate {
        let text = try AgentDirectory.read(file)
        do {
            return try AgentCertificate(Certificate(pemEncoded: text))
        } catch let error as AgentError {
            throw error
        } catch {
            throw .localFiles("\(file) is not a PEM certificate: \(error)")
        }
    }

    /// Lowercase hex serial, as Tollgate prints it.
    public var serial: String { SerialNumbers.hex(certificate.serialNumber) }
    public var notAfter: Date { certificate.notValidAfter }
    public var notBefore: Date { certificate.notValidBefore }
    public var commonName: String? { Self.attribute(.RDNAttributeType.commonName, of: certificate.subject) }
    public var organizationalUnit: String? { Self.attribute(.RDNAttributeType.organizationalUnitName, of: certificate.subject) }

    /// The IP addresses in the subjectAltName (IKE identities).
    public var ipAddresses: [String] {
        guard let names = try? certificate.extensions.subjectAlternativeNames else { return [] }
        return names.compactMap { name -> String? in
            guard case .ipAddress(let bytes) = name else { return nil }
            return CIDR.addressText(Array(bytes.bytes))
        }
    }

    static func attribute(_ type: ASN1ObjectIdentifier, of name: DistinguishedName) -> String? {
        for rdn in name {
            for attribute in rdn where attribute.type == type {
                if let value = String(attribute.value) { return value }
            }
        }
        return nil
    }

    /// TLS client identity from this certificate and `key`.
    public func tlsSettings(key: AgentKey, ca: CABundle) throws(AgentError) -> TLSSettings {
        do {
            let certificate = try NIOSSLCertificate(bytes: Array(pem.utf8), format: .pem)
            let privateKey = try NIOSSLPrivateKey(bytes: Array(key.pem.utf8), format: .pem)
            return TLSSettings(trustRoots: try ca.trustRoots(), certificateChain: [certificate], privateKey: privateKey)
        } catch let error as AgentError {
            throw error
        } catch {
            throw .localFiles("cannot use agent.pem/agent.key for TLS: \(error)")
        }
    }
}
