import Crypto
import Foundation
import SwiftASN1
import X509
import _CryptoExtras

/// The kinds of key the agent generates (`--key-type`).
public enum AgentKeyType: String, Sendable, CaseIterable {
    case p256
    case rsa2048
}

/// A private key generated on the converter; it never leaves it.
public struct AgentKey: Sendable {
    public let type: AgentKeyType
    public let privateKey: Certificate.PrivateKey
    /// PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), as `agent.key` stores it.
    public let pem: String

    /// Generates a new key.
    public static func generate(_ type: AgentKeyType) throws(AgentError) -> AgentKey {
        switch type {
        case .p256:
            let key = P256.Signing.PrivateKey()
            return AgentKey(type: type, privateKey: Certificate.PrivateKey(key), pem: key.pemRepresentation)
        case .rsa2048:
            do {
                let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
                return AgentKey(type: type, privateKey: Certificate.PrivateKey(key), pem: key.pkcs8PEMRepresentation)
            } catch {
                throw .localFiles("cannot generate an RSA key: \(error)")
            }
        }
    }

    /// Loads `agent.key` (PKCS#8, SEC1 or PKCS#1 PEM).
    public static func load(_ file: String) throws(AgentError) -> AgentKey {
        try AgentDirectory.requirePrivate(file)
        let pem = try AgentDirectory.read(file)
        do {
            let key = try Certificate.PrivateKey(pemEncoded: pem)
            let type: AgentKeyType
            if P256.Signing.PublicKey(key.publicKey) != nil {
                type = .p256
            } else if _RSA.Signing.PublicKey(key.publicKey) != nil {
                type = .rsa2048
            } else {
                throw AgentError.localFiles("\(file) holds a key type the agent does not use (P-256 or RSA expected)")
            }
            return AgentKey(type: type, privateKey: key, pem: pem)
        } catch let error as AgentError {
            throw error
        } catch {
            throw .localFiles("\(file) is not a PEM private key: \(error)")
        }
    }

    /// A PKCS#10 request (DER) with `CN=<commonName>`, signed by this key. Tollgate takes
    /// subject and names from its directory; the CN only says which converter this is.
    public func certificateSigningRequest(commonName: String) throws(AgentError) -> [UInt8] {
        do {
            let algorithm: Certificate.SignatureAlgorithm = type == .p256 ? .ecdsaWithSHA256 : .sha256WithRSAEncryption
            let csr = try CertificateSigningRequest(
                version: .v1, subject: try DistinguishedName { CommonName(commonName) }, privateKey: privateKey,
                attributes: CertificateSigningRequest.Attributes(), signatureAlgorithm: algorithm)
            var serializer = DER.Serializer()
            try serializer.serialize(csr)
            return serializer.serializedBytes
        } catch {
            throw .usage("cannot build a CSR for \"\(commonName)\": \(error)")
        }
    }

    /// Whether `certificate` certifies this key.
    public func matches(_ certificate: Certificate) -> Bool {
        certificate.publicKey == privateKey.publicKey
    }
}
