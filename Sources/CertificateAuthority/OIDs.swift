import SwiftASN1

/// Object identifiers used by the CA that swift-certificates does not export.
enum OIDs {
    static let ecPublicKey: ASN1ObjectIdentifier = [1, 2, 840, 10045, 2, 1]
    static let secp256r1: ASN1ObjectIdentifier = [1, 2, 840, 10045, 3, 1, 7]
    static let secp384r1: ASN1ObjectIdentifier = [1, 3, 132, 0, 34]
    static let secp521r1: ASN1ObjectIdentifier = [1, 3, 132, 0, 35]
    static let rsaEncryption: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 1, 1]
    static let rsassaPSS: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 1, 10]
    static let ed25519: ASN1ObjectIdentifier = [1, 3, 101, 112]
    static let ed448: ASN1ObjectIdentifier = [1, 3, 101, 113]
    static let ecdsaWithSHA256: ASN1ObjectIdentifier = [1, 2, 840, 10045, 4, 3, 2]

    /// id-kp-ipsecIKE (RFC 4945).
    static let ipsecIKE: ASN1ObjectIdentifier = [1, 3, 6, 1, 5, 5, 7, 3, 17]
    /// id-ce-cRLDistributionPoints.
    static let crlDistributionPoints: ASN1ObjectIdentifier = [2, 5, 29, 31]
    /// id-ce-cRLNumber.
    static let crlNumber: ASN1ObjectIdentifier = [2, 5, 29, 20]
    /// id-ce-cRLReasons.
    static let crlReason: ASN1ObjectIdentifier = [2, 5, 29, 21]

    /// id-signedData (RFC 5652).
    static let signedData: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 7, 2]
    /// id-data (RFC 5652).
    static let data: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 7, 1]
}
