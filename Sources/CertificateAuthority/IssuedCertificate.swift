import X509

/// A certificate signed by the issuing CA, with the encodings callers store and return.
public struct IssuedCertificate: Sendable, Hashable {
    /// The certificate.
    public let certificate: Certificate
    /// Its DER encoding (for the directory's `userCertificate;binary` and certs-only PKCS#7).
    public let derEncoded: [UInt8]
    /// Its PEM encoding.
    public let pemEncoded: String
    /// Lowercase hex serial number, e.g. for revocation and the directory.
    public var serialHex: String { SerialNumbers.hex(certificate.serialNumber) }
    /// The kind of the certified public key.
    public let keyKind: SubjectKeyKind
}
