import Crypto
import Foundation
import SwiftASN1
import X509

/// Tollgate's certificate authority: a self-signed root CA and an issuing CA below it, kept as PEM files
/// in the `pki` folder of the data directory.
///
/// The root CA signs only the issuing CA. The issuing CA signs converter certificates
/// (``issue(csr:subject:profile:now:)``) and CRLs (``makeCRL(revoked:crlNumber:thisUpdate:nextUpdate:)``).
/// Instances are immutable and safe to share between tasks.
public final class CertificateAuthority: Sendable {
    /// The `pki` folder the CA was loaded from.
    public let directory: URL
    /// The self-signed root CA certificate (`root-ca.pem`).
    public let rootCertificate: Certificate
    /// The issuing CA certificate (`issuing-ca.pem`), signed by the root.
    public let issuingCertificate: Certificate
    /// DER encoding of ``rootCertificate``.
    public let rootCertificateDER: [UInt8]
    /// DER encoding of ``issuingCertificate``.
    public let issuingCertificateDER: [UInt8]

    let rootKey: P256.Signing.PrivateKey
    let issuingKey: P256.Signing.PrivateKey
    /// Subject key identifier of the issuing CA, used as authority key identifier of what it signs.
    let issuingKeyIdentifier: [UInt8]

    /// Loads the CA from `directory` (the `DIR/pki` folder), creating a new root and issuing CA there
    /// if the folder holds none of the CA files.
    ///
    /// New files: `root-ca.pem` and `issuing-ca.pem` (mode 0644), `root-ca.key` and `issuing-ca.key`
    /// (PKCS#8 PEM, mode 0600); the folder is set to mode 0700. On load, each key must match its
    /// certificate and the issuing CA must be signed by the root.
    /// - Parameters:
    ///   - directory: The `pki` folder.
    ///   - now: Start of validity for newly created CA certificates.
    public convenience init(directory: URL, now: Date = Date()) throws(CertificateAuthorityError) {
        let files = PKIFiles(directory: directory)
        try files.prepareDirectory()
        let existing = files.existingNames()
        if existing.isEmpty {
            try Self.create(in: files, now: now)
        } else if existing.count < PKIFiles.allNames.count {
            let missing = PKIFiles.allNames.filter { !existing.contains($0) }
            throw .incompleteStore(directory: directory.path, missing: missing)
        }
        try self.init(loadingFrom: files)
    }

    private init(loadingFrom files: PKIFiles) throws(CertificateAuthorityError) {
        let root = try Self.loadPair(files, certificate: PKIFiles.rootCertificateName, key: PKIFiles.rootKeyName)
        let issuing = try Self.loadPair(
            files,
            certificate: PKIFiles.issuingCertificateName,
            key: PKIFiles.issuingKeyName
        )
        guard root.certificate.publicKey.isValidSignature(issuing.certificate.signature, for: issuing.certificate)
        else {
            throw .issuingNotSignedByRoot(path: files.path(PKIFiles.issuingCertificateName))
        }
        let rootDER: [UInt8]
        let issuingDER: [UInt8]
        do {
            rootDER = try DEREncoding.encode(root.certificate)
            issuingDER = try DEREncoding.encode(issuing.certificate)
        } catch {
            throw .unreadableFile(path: files.path(PKIFiles.issuingCertificateName), reason: "\(error)")
        }
        self.directory = files.directory
        self.rootCertificate = root.certificate
        self.issuingCertificate = issuing.certificate
        self.rootCertificateDER = rootDER
        self.issuingCertificateDER = issuingDER
        self.rootKey = root.key
        self.issuingKey = issuing.key
        self.issuingKeyIdentifier =
            (try? issuing.certificate.extensions.subjectKeyIdentifier).flatMap { $0 }.map { Array($0.keyIdentifier) }
            ?? KeyIdentifier.of(issuing.certificate.publicKey)
    }

    /// PEM of the issuing CA followed by the root CA, e.g. for `openssl verify -CAfile`.
    public var chainPEM: String {
        let pems = [issuingCertificate, rootCertificate].compactMap { try? $0.serializeAsPEM().pemString }
        return pems.map { $0 + "\n" }.joined()
    }

    private static func loadPair(
        _ files: PKIFiles,
        certificate certificateName: String,
        key keyName: String
    ) throws(CertificateAuthorityError) -> (certificate: Certificate, key: P256.Signing.PrivateKey) {
        try files.checkKeyPermissions(keyName)
        let certificatePEM = try files.read(certificateName)
        let keyPEM = try files.read(keyName)
        let certificate: Certificate
        do {
            certificate = try Certificate(pemEncoded: certificatePEM)
        } catch {
            throw .unreadableFile(path: files.path(certificateName), reason: "\(error)")
        }
        let key: P256.Signing.PrivateKey
        do {
            key = try P256.Signing.PrivateKey(pemRepresentation: keyPEM)
        } catch {
            throw .unreadableFile(path: files.path(keyName), reason: "not a P-256 private key: \(error)")
        }
        guard certificate.publicKey == Certificate.PublicKey(key.publicKey) else {
            throw .keyDoesNotMatchCertificate(keyPath: files.path(keyName), certificatePath: files.path(certificateName))
        }
        return (certificate, key)
    }

    private static func create(in files: PKIFiles, now: Date) throws(CertificateAuthorityError) {
        let generated = try CAGenerator.generate(now: now)
        let rootPEM: String
        let issuingPEM: String
        do {
            rootPEM = try generated.root.serializeAsPEM().pemString + "\n"
            issuingPEM = try generated.issuing.serializeAsPEM().pemString + "\n"
        } catch {
            throw .generationFailed(reason: "\(error)")
        }
        // Keys first: a crash in between leaves an incomplete store, which is reported, never overwritten.
        try files.writeNew(PKIFiles.rootKeyName, contents: generated.rootKey.pemRepresentation + "\n", mode: PKIFiles.keyMode)
        try files.writeNew(
            PKIFiles.issuingKeyName,
            contents: generated.issuingKey.pemRepresentation + "\n",
            mode: PKIFiles.keyMode
        )
        try files.writeNew(PKIFiles.rootCertificateName, contents: rootPEM, mode: PKIFiles.certificateMode)
        try files.writeNew(PKIFiles.issuingCertificateName, contents: issuingPEM, mode: PKIFiles.certificateMode)
    }
}
