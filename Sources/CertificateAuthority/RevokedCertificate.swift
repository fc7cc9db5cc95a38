import Foundation
import X509

/// One entry of a CRL: which certificate was revoked, when, and why.
public struct RevokedCertificate: Sendable, Hashable {
    /// Serial number of the revoked certificate.
    public var serialNumber: Certificate.SerialNumber
    /// When the certificate was revoked.
    public var revocationDate: Date
    /// Why; ``CRLReason/unspecified`` adds no reasonCode extension.
    public var reason: CRLReason

    /// Creates an entry from a serial number.
    public init(serialNumber: Certificate.SerialNumber, revocationDate: Date, reason: CRLReason = .unspecified) {
        self.serialNumber = serialNumber
        self.revocationDate = revocationDate
        self.reason = reason
    }

    /// Creates an entry from a hex serial number (as ``IssuedCertificate/serialHex`` or openssl print it).
    /// - Throws: ``CRLError/invalidSerial(_:)`` if `serialHex` is not hex of at most 20 bytes.
    public init(serialHex: String, revocationDate: Date, reason: CRLReason = .unspecified) throws(CRLError) {
        guard let serial = SerialNumbers.parse(hex: serialHex) else {
            throw .invalidSerial(serialHex)
        }
        self.init(serialNumber: serial, revocationDate: revocationDate, reason: reason)
    }
}
