import Crypto
import SwiftASN1
import X509
import _CryptoExtras

/// Which subject keys Tollgate certifies: ECDSA P-256/P-384/P-521, Ed25519 and RSA of 2048 to 4096 bits.
public enum CSRKeyPolicy {
    /// Smallest accepted RSA modulus, in bits.
    public static let minimumRSABits = 2048
    /// Largest accepted RSA modulus, in bits.
    public static let maximumRSABits = 4096

    /// Classifies `publicKey`, or throws ``CSRError/unsupportedKey(reason:)``.
    public static func keyKind(of publicKey: Certificate.PublicKey) throws(CSRError) -> SubjectKeyKind {
        if P256.Signing.PublicKey(publicKey) != nil { return .p256 }
        if P384.Signing.PublicKey(publicKey) != nil { return .p384 }
        if P521.Signing.PublicKey(publicKey) != nil { return .p521 }
        if Curve25519.Signing.PublicKey(publicKey) != nil { return .ed25519 }
        if let rsa = _RSA.Signing.PublicKey(publicKey) {
            try checkRSA(bits: rsa.keySizeInBits)
            return .rsa(bits: rsa.keySizeInBits)
        }
        throw .unsupportedKey(reason: "\(publicKey)")
    }

    static func checkRSA(bits: Int) throws(CSRError) {
        guard bits >= minimumRSABits, bits <= maximumRSABits else {
            throw .unsupportedKey(reason: "RSA-\(bits)")
        }
    }

    /// Inspects the SubjectPublicKeyInfo of a parsed `CertificationRequest` node before full decoding.
    static func checkSubjectPublicKeyInfo(inRequest request: ASN1Node) throws(CSRError) {
        guard let info = children(of: request).first,
            case let infoChildren = children(of: info), infoChildren.count >= 3
        else {
            throw .malformed(reason: "no CertificationRequestInfo")
        }
        let spki = children(of: infoChildren[2])
        guard spki.count == 2, case let algorithm = children(of: spki[0]), let oidNode = algorithm.first,
            let oid = try? ASN1ObjectIdentifier(derEncoded: oidNode)
        else {
            throw .malformed(reason: "no SubjectPublicKeyInfo")
        }
        switch oid {
        case OIDs.ecPublicKey:
            guard algorithm.count == 2, let curve = try? ASN1ObjectIdentifier(derEncoded: algorithm[1]) else {
                throw .unsupportedKey(reason: "EC key without a named curve")
            }
            guard [OIDs.secp256r1, OIDs.secp384r1, OIDs.secp521r1].contains(curve) else {
                throw .unsupportedKey(reason: "EC curve \(curve)")
            }
        case OIDs.ed25519:
            break
        case OIDs.rsaEncryption:
            guard let bits = try? ASN1BitString(derEncoded: spki[1]),
                let keyNode = try? DER.parse(bits.bytes),
                let modulusNode = children(of: keyNode).first,
                let modulus = try? ArraySlice<UInt8>(derEncoded: modulusNode)
            else {
                throw .malformed(reason: "RSA public key is not a PKCS#1 RSAPublicKey")
            }
            try checkRSA(bits: bitLength(of: modulus))
        case OIDs.ed448:
            throw .unsupportedKey(reason: "Ed448")
        case OIDs.rsassaPSS:
            throw .unsupportedKey(reason: "RSASSA-PSS key")
        default:
            throw .unsupportedKey(reason: "algorithm \(oid)")
        }
    }

    private static func children(of node: ASN1Node) -> [ASN1Node] {
        guard case .constructed(let nodes) = node.content else { return [] }
        return Array(nodes)
    }

    private static func bitLength(of magnitude: ArraySlice<UInt8>) -> Int {
        let significant = magnitude.drop { $0 == 0 }
        guard let first = significant.first else { return 0 }
        return (significant.count - 1) * 8 + (8 - first.leadingZeroBitCount)
    }
}
