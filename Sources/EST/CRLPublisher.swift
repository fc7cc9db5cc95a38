import CertificateAuthority
import Directory
import Foundation
import Logging
import X509

/// Builds the CRL from the revocations recorded in the directory and publishes it on the
/// CA entry (`certificateRevocationList;binary`, anonymously readable), where IPsec peers
/// fetch it over `ldap://`; the HTTPS server also serves the published copy.
public struct CRLPublisher: Sendable {
    public let authority: CertificateAuthority
    public let store: DirectoryStore
    /// `nextUpdate - thisUpdate`.
    public let lifetime: TimeInterval

    public init(authority: CertificateAuthority, store: DirectoryStore, lifetime: TimeInterval = CertificateAuthority.defaultCRLLifetime) {
        self.authority = authority
        self.store = store
        self.lifetime = lifetime
    }

    static let reasons: [String: CRLReason] = [
        "unspecified": .unspecified, "keyCompromise": .keyCompromise, "cACompromise": .caCompromise,
        "affiliationChanged": .affiliationChanged, "superseded": .superseded, "cessationOfOperation": .cessationOfOperation,
        "certificateHold": .certificateHold, "removeFromCRL": .removeFromCRL, "privilegeWithdrawn": .privilegeWithdrawn,
        "aACompromise": .aaCompromise,
    ]

    /// Signs and publishes a new CRL; returns its number.
    @discardableResult
    public func publish(now: Date = Date()) async throws -> Int {
        let records = try await store.revokedCertificates()
        let revoked = try records.map { record in
            try RevokedCertificate(serialHex: record.serial, revocationDate: record.revokedAt,
                                   reason: Self.reasons[record.reason] ?? .unspecified)
        }
        let number = try await store.nextCRLNumber()
        let der = try authority.makeCRL(revoked: revoked, crlNumber: UInt64(number), thisUpdate: now,
                                        nextUpdate: now.addingTimeInterval(lifetime))
        try await store.publishCRL(Data(der), number: number)
        return number
    }

    /// Revokes `serial` (recorded in the directory, the converter marked), then publishes
    /// a new CRL. Returns the CRL number.
    @discardableResult
    public func revoke(serial: String, reason: String, now: Date = Date()) async throws -> Int {
        let converter = try await store.converter(certificateSerial: serial)
        try await store.recordRevocation(RevocationRecord(serial: serial, revokedAt: now, reason: reason,
                                                          orgNumber: converter?.orgNumber, converter: converter?.name))
        return try await publish(now: now)
    }
}
