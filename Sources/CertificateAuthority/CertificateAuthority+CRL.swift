import Foundation
import X509

extension CertificateAuthority {
    /// Default CRL lifetime (`nextUpdate - thisUpdate`): 7 days.
    public static let defaultCRLLifetime: TimeInterval = 7 * 24 * 60 * 60

    /// Builds a DER-encoded X.509 v2 CRL signed by the issuing CA (ecdsa-with-SHA256).
    ///
    /// Contents: issuer = the issuing CA's subject, `thisUpdate`/`nextUpdate` (UTCTime before 2050),
    /// one entry per revoked certificate with a reasonCode extension unless the reason is
    /// ``CRLReason/unspecified`` (the list is omitted when empty), and the CRL extensions
    /// Authority Key Identifier and CRL Number.
    /// - Parameters:
    ///   - revoked: Revoked certificates, in the order they should appear.
    ///   - crlNumber: Monotonically increasing CRL sequence number; the caller persists it.
    ///   - thisUpdate: Issue time of this CRL.
    ///   - nextUpdate: Latest time of the next CRL; must be after `thisUpdate`.
    public func makeCRL(
        revoked: [RevokedCertificate],
        crlNumber: UInt64,
        thisUpdate: Date = Date(),
        nextUpdate: Date? = nil
    ) throws(CRLError) -> [UInt8] {
        let next = nextUpdate ?? thisUpdate.addingTimeInterval(Self.defaultCRLLifetime)
        guard next > thisUpdate else {
            throw .nextUpdateNotAfterThisUpdate(thisUpdate: thisUpdate, nextUpdate: next)
        }
        let encoder = CRLEncoder(
            issuer: issuingCertificate.subject,
            authorityKeyIdentifier: issuingKeyIdentifier,
            crlNumber: crlNumber,
            thisUpdate: thisUpdate,
            nextUpdate: next,
            revoked: revoked
        )
        do {
            return try encoder.signed(with: issuingKey)
        } catch {
            throw .encodingFailed(reason: "\(error)")
        }
    }
}
