/// Revocation reason codes (RFC 5280 §5.3.1, `CRLReason`).
public enum CRLReason: Int, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// No reason given; encoded by omitting the reasonCode entry extension.
    case unspecified = 0
    case keyCompromise = 1
    case caCompromise = 2
    case affiliationChanged = 3
    case superseded = 4
    case cessationOfOperation = 5
    case certificateHold = 6
    // 7 is not used.
    case removeFromCRL = 8
    case privilegeWithdrawn = 9
    case aaCompromise = 10

    /// The name as OpenSSL prints it, e.g. `Key Compromise`.
    public var description: String {
        switch self {
        case .unspecified: return "Unspecified"
        case .keyCompromise: return "Key Compromise"
        case .caCompromise: return "CA Compromise"
        case .affiliationChanged: return "Affiliation Changed"
        case .superseded: return "Superseded"
        case .cessationOfOperation: return "Cessation Of Operation"
        case .certificateHold: return "Certificate Hold"
        case .removeFromCRL: return "Remove From CRL"
        case .privilegeWithdrawn: return "Privilege Withdrawn"
        case .aaCompromise: return "AA Compromise"
        }
    }
}
