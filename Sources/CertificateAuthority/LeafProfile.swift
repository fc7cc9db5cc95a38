import Foundation

/// Validity and CRL locations for converter (leaf) certificates.
///
/// Every leaf gets: BasicConstraints CA:false (critical), KeyUsage digitalSignature (+ keyEncipherment for
/// RSA keys, critical), ExtendedKeyUsage serverAuth, clientAuth and ipsecIKE, subject and authority key
/// identifiers, subjectAltName when names are given, and CRL distribution points when URIs are given.
public struct LeafProfile: Sendable, Equatable {
    /// How long certificates are valid, counted from the issuance time; default 365 days.
    public var validity: TimeInterval
    /// How far `notBefore` lies before the issuance time, to tolerate clock skew; default 5 minutes.
    public var backdate: TimeInterval
    /// CRL distribution point URIs, in the order clients should try them, e.g.
    /// `ldap://127.0.0.1:3389/cn=ca,ou=pki,dc=tollgate?certificateRevocationList;binary` then an
    /// `http://…/crl` URL. No extension is added when empty.
    public var crlDistributionPoints: [String]

    /// Default validity: 365 days.
    public static let defaultValidity: TimeInterval = 365 * 24 * 60 * 60

    /// Creates a profile.
    public init(
        validity: TimeInterval = LeafProfile.defaultValidity,
        backdate: TimeInterval = 5 * 60,
        crlDistributionPoints: [String] = []
    ) {
        self.validity = validity
        self.backdate = backdate
        self.crlDistributionPoints = crlDistributionPoints
    }
}
