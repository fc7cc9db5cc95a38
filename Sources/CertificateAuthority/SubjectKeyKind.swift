/// The kind of public key a certificate is issued for.
public enum SubjectKeyKind: Sendable, Hashable, CustomStringConvertible {
    /// ECDSA on NIST P-256.
    case p256
    /// ECDSA on NIST P-384.
    case p384
    /// ECDSA on NIST P-521.
    case p521
    /// Ed25519.
    case ed25519
    /// RSA with the given modulus size.
    case rsa(bits: Int)

    /// Whether the key is RSA (which additionally gets the `keyEncipherment` key usage).
    public var isRSA: Bool {
        if case .rsa = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .p256: return "ECDSA P-256"
        case .p384: return "ECDSA P-384"
        case .p521: return "ECDSA P-521"
        case .ed25519: return "Ed25519"
        case .rsa(let bits): return "RSA-\(bits)"
        }
    }
}
